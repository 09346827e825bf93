"""Schemathesis over every HTTP service's OpenAPI (`make fuzz N=...`, and a small run in CI)."""
