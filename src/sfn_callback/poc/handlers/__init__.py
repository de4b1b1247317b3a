"""Lambda entry points (``sfn_callback.poc.handlers.<name>.handler``)."""
