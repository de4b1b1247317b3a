"""An approval step decided by your own code instead of a person."""
