"""Workload 4 of the RCA corpus: the project's own demo server (the detectors were written alongside it)."""
