"""RCA corpus: labelled runs of independent workloads with injected faults, and their scorer.

``python -m benchmarks.rca.run --suite quick|full`` (see README.md).
"""
