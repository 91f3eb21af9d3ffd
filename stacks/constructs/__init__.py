"""One construct per capability of the pipeline; each takes keyword arguments, never context."""
