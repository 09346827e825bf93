"""Hostile PDFs: what one costs parsed in-process, and what it costs under the sandbox's bounds.

Builds a PDF whose single page inflates to `--megabytes` MB of text (a few KB on the wire),
parses it once without bounds in a child interpreter (wall time, peak RSS) and once through
`waai.knowledge.pdf_text.read_pdf` with the deployment defaults (outcome, wall time), then the
sandbox's fixed cost on a one-page PDF (median of `--rounds`).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import time

from tests.fakes.hostile_pdfs import inflating_pdf, text_pdf
from waai.knowledge.pdf_text import read_pdf
from wacommon.infra.sandbox import ParseFailed, ParseLimits

UNBOUNDED = (
    "import sys; from waai.knowledge.pdf_child import pdf_pages;"
    " r = pdf_pages(sys.stdin.buffer.read(), 30, 20000); print(sum(map(len, r['pages'])))"
)


def unbounded(data: bytes) -> tuple[float, float]:
    """(seconds, peak MB) of pypdf reading `data` with nothing around it."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", UNBOUNDED], input=data, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak_mb


async def bounded(data: bytes, limits: ParseLimits) -> tuple[str, float]:
    start = time.perf_counter()
    try:
        pdf = await read_pdf(data, max_pages=30, max_chars=20000, limits=limits)
        outcome = f"read ({sum(len(p) for p in pdf.pages)} chars)"
    except ParseFailed as exc:
        outcome = f"unreadable ({exc.reason})"
    return outcome, time.perf_counter() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=10, help="text the page inflates to")
    parser.add_argument("--rounds", type=int, default=5, help="one-page parses for the fixed cost")
    args = parser.parse_args()
    bomb = inflating_pdf(args.megabytes)
    limits = ParseLimits()
    print(f"inflating PDF: {len(bomb) / 1024:.0f} KB on the wire, {args.megabytes} MB of text")
    seconds, peak = unbounded(bomb)
    print(f"  in-process (no bounds):  {seconds:6.1f} s, peak RSS {peak:,.0f} MB")
    outcome, seconds = await bounded(bomb, limits)
    print(
        f"  sandbox ({limits.timeout_s:.0f} s, {limits.memory_bytes >> 20} MB):"
        f" {seconds:6.1f} s, {outcome}"
    )
    one_page = text_pdf("Abrimos de segunda a sexta, das 9h às 18h.")
    times = [(await bounded(one_page, limits))[1] for _ in range(args.rounds)]
    print(f"one-page PDF through the sandbox: median {statistics.median(times) * 1000:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
