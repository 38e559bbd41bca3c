"""RCA corpus workload ``chain``: a gateway with a catch-all route in front of four services."""
