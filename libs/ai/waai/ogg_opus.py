"""Raw speech (16-bit PCM) as an Ogg/Opus file, the format WhatsApp plays as a voice note.

Encoded offline by libopus inside PyAV's wheels (ffmpeg's `libopus` encoder, no system
library, no network). CPU-bound: a minute of speech takes a few hundred milliseconds, so
async callers run it in a thread (`to_ogg_opus`). PyAV is imported on the first encoding:
its ffmpeg libraries add about 20 MB to a process that never speaks with Gemini.
"""

from __future__ import annotations

import asyncio
import io

# speech, not music: 32 kbit/s mono is clear and keeps a minute near 240 KB
BIT_RATE = 32_000
# the input rates libopus takes as they are; any other rate would need resampling first
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


class EncodeFailed(Exception):
    """The PCM could not be encoded (empty, an unsupported rate, or the encoder failed)."""


def encode(pcm: bytes, rate: int) -> bytes:
    """Mono 16-bit little-endian PCM at `rate` Hz as Ogg/Opus bytes."""
    samples = len(pcm) // 2
    if samples == 0:
        raise EncodeFailed("no audio")
    if rate not in OPUS_RATES:
        raise EncodeFailed(f"sample rate {rate} is not one Opus takes")
    import av
    import av.error

    out = io.BytesIO()
    try:
        with av.open(out, mode="w", format="ogg") as container:
            stream = container.add_stream("libopus", rate=rate, layout="mono")
            stream.bit_rate = BIT_RATE
            stream.options = {"application": "voip"}
            frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
            frame.planes[0].update(pcm[: samples * 2])
            frame.sample_rate = rate
            frame.pts = 0
            # PyAV cuts the one long frame into the encoder's 20 ms frames itself
            for packet in stream.encode(frame):
                container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
    except (av.error.FFmpegError, ValueError) as exc:
        raise EncodeFailed(f"opus encoding failed: {exc}") from exc
    return out.getvalue()


async def to_ogg_opus(pcm: bytes, rate: int) -> bytes:
    """`encode` off the event loop."""
    return await asyncio.to_thread(encode, pcm, rate)
