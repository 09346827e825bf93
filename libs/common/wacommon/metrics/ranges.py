"""The date range of a metrics read: the one day format, and the error that names its parameter.

The metrics API (English) and the console's metrics page (Portuguese) word their refusals
differently, but both answer 422 for the same `RangeRefused` and accept the same days.
"""

from __future__ import annotations

import re

# `date.fromisoformat` alone would also take `20261206` and week dates
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class RangeRefused(ValueError):
    """A date range a reader does not serve: `field` is the query parameter at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
