"""A poller for your own job API, built with ``sfn_callback``'s handler factories."""
