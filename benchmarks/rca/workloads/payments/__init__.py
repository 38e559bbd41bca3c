"""Workload 1 of the RCA corpus: a sync-heavy payments scorer + its HTTP risk dependency."""
