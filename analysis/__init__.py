"""infersight.analysis."""
