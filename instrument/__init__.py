"""infersight.instrument."""
