"""A deterministic stand-in for an embedding model: hashed word counts, unit length.

It only has to be stable and to put texts that share words close together, so that tests can
tell a dense hit from a miss; retrieval quality is measured with a real model in bench/.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata

DIMENSIONS = 64


def fake_embedding(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    """A unit vector of `dimensions` floats from the text's accent-folded words."""
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    vector = [0.0] * dimensions
    for word in re.findall(r"[a-z0-9]{3,}", folded):
        digest = hashlib.sha256(word[:6].encode()).digest()
        vector[int.from_bytes(digest[:4], "little") % dimensions] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]
