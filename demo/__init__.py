"""infersight.demo."""
