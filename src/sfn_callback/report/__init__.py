"""The HTML/Markdown report: reads the cost measurement, the scale benchmark and the run results."""
