"""Lambda entry points (``sfn_callback.poc.entrypoints.<name>.handler``)."""
