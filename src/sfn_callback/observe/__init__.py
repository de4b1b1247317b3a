"""Reading what a target recorded: execution histories (``history``), token records and latency figures
(``records``), for the cost measurement, the benchmarks and the report."""
