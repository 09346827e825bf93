"""Gemini speech to a voice note: what encoding its PCM to Ogg/Opus costs (waai.ogg_opus).

Encodes `--seconds` of 24 kHz 16-bit mono PCM (a voice-like signal: a gliding tone with
syllable-length pauses) `--rounds` times and prints the median wall time, the real-time factor,
the file size per minute, and the memory PyAV's import and one encoding add to the process.

    .venv/bin/python -m bench.speech_encode --seconds 60 --rounds 5
"""

from __future__ import annotations

import argparse
import math
import statistics
import struct
import time

from waai.ogg_opus import encode

RATE = 24000


def voice_like(seconds: float) -> bytes:
    """A tone gliding between 120 and 260 Hz, 250 ms on and 80 ms off, like syllables."""
    samples = []
    phase = 0.0
    for i in range(int(seconds * RATE)):
        t = i / RATE
        pitch = 190 + 70 * math.sin(2 * math.pi * 0.7 * t)
        phase += 2 * math.pi * pitch / RATE
        on = (t % 0.33) < 0.25
        samples.append(int(7000 * math.sin(phase)) if on else 0)
    return struct.pack(f"<{len(samples)}h", *samples)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    pcm = voice_like(args.seconds)
    before = rss_mb()
    start = time.perf_counter()
    data = encode(pcm, RATE)
    first = time.perf_counter() - start
    after_first = rss_mb()
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        data = encode(pcm, RATE)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"pcm: {args.seconds:.0f} s at {RATE} Hz mono, {len(pcm) / 1e6:.2f} MB")
    print(
        f"first encoding (imports PyAV): {first * 1000:.0f} ms, RSS +{after_first - before:.0f} MB"
    )
    print(
        f"encoding, median of {args.rounds}: {median * 1000:.0f} ms"
        f" ({median / args.seconds * 1000:.1f} ms per second of speech,"
        f" {args.seconds / median:.0f}x real time)"
    )
    print(
        f"ogg/opus: {len(data) / 1024:.0f} KiB, {len(data) / args.seconds * 60 / 1024:.0f} KiB"
        f" a minute ({len(data) * 8 / args.seconds / 1000:.1f} kbit/s with Ogg framing)"
    )


if __name__ == "__main__":
    main()
