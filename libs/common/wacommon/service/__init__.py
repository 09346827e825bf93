"""One service process: its resources and lifecycle (`runtime`) and its HTTP shell (`http`)."""
