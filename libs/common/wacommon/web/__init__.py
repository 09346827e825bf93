"""The HTTP edge's shapes: the body cap, the 4xx body, request field types."""
