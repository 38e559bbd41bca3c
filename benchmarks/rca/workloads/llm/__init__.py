"""RCA corpus workload ``llm``: a token-streaming server around a continuous-batching engine thread."""
