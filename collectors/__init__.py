"""infersight.collectors."""
