"""Recordings decoded in memory (PyAV) into what speech engines take: 16 kHz mono float32.

A recording that cannot be used says why, as one of the `Unsupported` kinds the engine
answers in the person's language: too long, too big, unreadable, or silent.
"""

from __future__ import annotations

import io

import av
import numpy as np

RATE = 16_000
MAX_SECONDS = 60.0
MAX_BYTES = 5 * 1024 * 1024  # a minute of Opus is about 250 KB; of uncompressed WAV, 5.6 MB at 48 kHz
# Below this level (about -50 dBFS), a recording holds nothing anyone could hear.
SILENCE_RMS = 0.003


class AudioProblem(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind  # "voice_too_long", "voice_unreadable" or "voice_silent"


def decode(data: bytes, max_seconds: float = MAX_SECONDS, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """The recording's samples at 16 kHz, mono; stops reading as soon as it is too long."""
    if len(data) > max_bytes:
        raise AudioProblem("voice_too_long")
    chunks: list[np.ndarray] = []
    total, limit = 0, int(max_seconds * RATE)
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioProblem("voice_unreadable")  # a picture, a document
            resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    total += chunk.size
                    if total > limit:
                        raise AudioProblem("voice_too_long")
            chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    except (av.error.FFmpegError, ValueError, UnicodeDecodeError) as error:
        raise AudioProblem("voice_unreadable") from error
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if samples.size < RATE // 5 or float(np.sqrt(np.mean(samples**2))) < SILENCE_RMS:
        raise AudioProblem("voice_silent")
    return samples


def ogg_opus(samples: np.ndarray | bytes, rate: int) -> bytes:
    """Signed 16-bit mono samples as an OGG/Opus voice note at 48 kHz, as Telegram sends them."""
    return encode(samples, rate, "ogg", "libopus", 48_000, bit_rate=32_000)


def encode(
    samples: np.ndarray | bytes, rate: int, container: str, codec: str, codec_rate: int, bit_rate: int = 0
) -> bytes:
    """Signed 16-bit mono samples, encoded with `codec` (in the sample format it takes) into
    `container` at `codec_rate`."""
    pcm = np.frombuffer(samples, dtype=np.int16) if isinstance(samples, bytes) else samples.astype(np.int16)
    output = io.BytesIO()
    with av.open(output, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=codec_rate)
        stream.layout = "mono"
        if bit_rate:
            stream.bit_rate = bit_rate
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=codec_rate)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.rate = rate
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(resampled):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return output.getvalue()
