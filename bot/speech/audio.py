"""Recordings decoded in memory (PyAV) into what speech engines take: 16 kHz mono float32.

A recording that cannot be used says why, as one of the `Unsupported` kinds the engine
answers in the person's language: too long, too big, unreadable, or silent.

Uploads are untrusted, and FFmpeg reads far more than recordings: left to guess, it takes an
SDP file for a network stream (and binds UDP sockets to wait for it), an ffconcat file for a
list of other files to read, an HLS playlist for URLs to fetch. So the container is decided
from the file's first bytes, among the six that recordings come in, and opened with that
demuxer only; FFmpeg may open no protocol but file and pipe; and decoding has a deadline,
after which the worker is free again.
"""

from __future__ import annotations

import io
import time

import av
import numpy as np

RATE = 16_000
MAX_SECONDS = 60.0
MAX_BYTES = 5 * 1024 * 1024  # a minute of Opus is about 250 KB; of uncompressed WAV, 5.6 MB at 48 kHz
# A minute of any of these decodes in well under a second on one core.
MAX_DECODE_SECONDS = 5.0
SAFE_PROTOCOLS = {"protocol_whitelist": "file,pipe"}
# Below this level (about -50 dBFS), a recording holds nothing anyone could hear.
SILENCE_RMS = 0.003


class AudioProblem(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind  # "voice_too_long", "voice_unreadable" or "voice_silent"


def container_of(data: bytes) -> str | None:
    """The FFmpeg demuxer for a recording, from its first bytes; None: not a recording."""
    if data.startswith(b"OggS"):
        return "ogg"  # Telegram's voice notes (Opus), Firefox's recordings
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"  # WebM: Chrome's and Android's recordings
    if data[4:8] == b"ftyp":
        return "mp4"  # MP4 and M4A: Safari's and iPhones' recordings, round video messages
    if data.startswith(b"RIFF") and data[8:12] == b"WAVE":
        return "wav"
    if data.startswith(b"fLaC"):
        return "flac"
    # MP3: an ID3 tag, or a frame's 11 sync bits and a layer (AAC's ADTS has layer 0: not MP3).
    if data.startswith(b"ID3") or (data[:1] == b"\xff" and data[1:2] >= b"\xe0" and data[1] & 0b110):
        return "mp3"
    return None


def decode(
    data: bytes,
    max_seconds: float = MAX_SECONDS,
    max_bytes: int = MAX_BYTES,
    max_decode_seconds: float = MAX_DECODE_SECONDS,
) -> np.ndarray:
    """The recording's samples at 16 kHz, mono; stops reading as soon as it is too long, or
    has taken longer than `max_decode_seconds` to decode."""
    if len(data) > max_bytes:
        raise AudioProblem("voice_too_long")
    container_format = container_of(data)
    if container_format is None:
        raise AudioProblem("voice_unreadable")  # a picture, a document, a playlist, an SDP file
    chunks: list[np.ndarray] = []
    total, limit = 0, int(max_seconds * RATE)
    deadline = time.monotonic() + max_decode_seconds
    try:
        with av.open(
            io.BytesIO(data),
            mode="r",
            format=container_format,
            container_options=SAFE_PROTOCOLS,
            timeout=max_decode_seconds,  # FFmpeg's own reads, interrupted
        ) as container:
            if not container.streams.audio:
                raise AudioProblem("voice_unreadable")  # a video without sound
            resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
            for frame in container.decode(container.streams.audio[0]):
                if time.monotonic() > deadline:
                    raise AudioProblem("voice_unreadable")  # built to be slow: the worker goes free
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
