"""`python -m metrics`."""

from metrics.main import main

main()
