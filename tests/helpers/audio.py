"""Audio files for the loader and feature-dumping tests, written byte by byte where it matters.

`write_riff` builds a RIFF/WAVE file by hand with `struct` (no soundfile involved), so the tests
control every byte of the layout: chunks before `fmt `/`data` (`LIST`, `PAD `, `JUNK`), odd-sized
chunks with their pad byte, WAVE_FORMAT_EXTENSIBLE, 8/16/24/32-bit PCM and 32/64-bit float, and
broken files (truncated header, empty data chunk, data shorter than the header says).
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# The 14 bytes that follow the format tag in a KSDATAFORMAT_SUBTYPE GUID.
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"

FULL_SCALE = {8: 128, 16: 32768, 24: 1 << 23, 32: 1 << 31}


def chunk(cid: bytes, payload: bytes) -> bytes:
    """One RIFF chunk: id, little-endian size, payload and the pad byte an odd size needs."""
    assert len(cid) == 4
    return cid + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) % 2 else b"")


def list_info_chunk(**tags: str) -> bytes:
    """A `LIST`/`INFO` chunk such as editors write (INAM, ISFT, ...)."""
    body = b"INFO"
    for key, value in tags.items():
        body += chunk(key.encode("ascii"), value.encode("ascii") + b"\x00")
    return chunk(b"LIST", body)


def encode_samples(samples: np.ndarray, bits: int, is_float: bool = False) -> bytes:
    """Interleaved little-endian sample bytes. `samples` (frames, channels) holds integer sample
    values for PCM (unsigned 0..255 for 8 bit, as WAV stores it) and floats for float formats."""
    samples = np.asarray(samples)
    flat = samples.reshape(-1)
    if is_float:
        return flat.astype("<f4" if bits == 32 else "<f8").tobytes()
    if bits == 8:
        return flat.astype(np.uint8).tobytes()
    if bits == 16:
        return flat.astype("<i2").tobytes()
    if bits == 24:
        v = flat.astype(np.int64) & 0xFFFFFF
        out = np.empty((len(v), 3), dtype=np.uint8)
        out[:, 0], out[:, 1], out[:, 2] = v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF
        return out.tobytes()
    if bits == 32:
        return flat.astype("<i4").tobytes()
    raise ValueError(f"unsupported bit depth {bits}")


def fmt_chunk(channels: int, sr: int, bits: int, is_float: bool = False, extensible: bool = False) -> bytes:
    block_align = channels * bits // 8
    tag = WAVE_FORMAT_EXTENSIBLE if extensible else (WAVE_FORMAT_IEEE_FLOAT if is_float else WAVE_FORMAT_PCM)
    body = struct.pack("<HHIIHH", tag, channels, sr, sr * block_align, block_align, bits)
    if extensible:
        sub = WAVE_FORMAT_IEEE_FLOAT if is_float else WAVE_FORMAT_PCM
        channel_mask = (1 << channels) - 1
        body += struct.pack("<HHI", 22, bits, channel_mask) + struct.pack("<H", sub) + _GUID_TAIL
    elif is_float:
        body += struct.pack("<H", 0)  # cbSize, as float files carry it
    return chunk(b"fmt ", body)


def build_riff(samples: np.ndarray, sr: int, bits: int = 16, *, is_float: bool = False,
               extensible: bool = False, before_fmt: list[bytes] = (), before_data: list[bytes] = (),
               after_data: list[bytes] = (), data_size: int | None = None, riff_size: int | None = None) -> bytes:
    """The bytes of a WAV file. `data_size`/`riff_size` override the header's sizes (streamed or
    truncated files); extra chunks (from `chunk`/`list_info_chunk`) go where they are asked to."""
    samples = np.asarray(samples)
    if samples.ndim == 1:
        samples = samples[:, None]
    data = encode_samples(samples, bits, is_float)
    data_chunk = chunk(b"data", data)
    if data_size is not None:
        data_chunk = b"data" + struct.pack("<I", data_size) + data_chunk[8:]
    body = b"WAVE" + b"".join(before_fmt) + fmt_chunk(samples.shape[1], sr, bits, is_float, extensible) \
        + b"".join(before_data) + data_chunk + b"".join(after_data)
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def write_riff(path: str | Path, samples: np.ndarray, sr: int, bits: int = 16, **kw) -> Path:
    path = Path(path)
    path.write_bytes(build_riff(samples, sr, bits, **kw))
    return path


def chunk_ids(path: str | Path, limit: int = 1 << 16) -> list[str]:
    """The chunk ids of a RIFF file up to and including `data` (read from its first bytes)."""
    b = Path(path).read_bytes()[:limit]
    if b[:4] != b"RIFF" or b[8:12] != b"WAVE":
        return []
    ids, i = [], 12
    while i + 8 <= len(b):
        cid, size = b[i:i + 4], struct.unpack("<I", b[i + 4:i + 8])[0]
        ids.append(cid.decode("latin-1"))
        if cid == b"data":
            break
        i += 8 + size + (size & 1)
    return ids


def sine(n: int, sr: int, freq: float = 440.0, amp: float = 0.5, phase: float = 0.0) -> np.ndarray:
    t = np.arange(n) / sr
    return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float64)


def to_int(x: np.ndarray, bits: int) -> np.ndarray:
    """Float samples in [-1, 1) as integer sample values of `bits` (8 bit: unsigned, as WAV)."""
    scale = FULL_SCALE[bits]
    v = np.clip(np.round(np.asarray(x) * scale), -scale, scale - 1).astype(np.int64)
    return v + 128 if bits == 8 else v


def kaldi_num_frames(n: int, frame_length: int = 400, shift: int = 160) -> int:
    """Frames of Kaldi's feature extraction with snip_edges=true (25 ms / 10 ms at 16 kHz)."""
    return 0 if n < frame_length else 1 + (n - frame_length) // shift


def resampled_length(n: int, sr: int, target: int = 16000) -> int:
    return int(round(n * target / sr))


def parse_riff(path: str | Path) -> tuple[dict, bytes]:
    """(fmt fields, data bytes) of a plain RIFF/WAVE file, read independently of soundfile."""
    b = Path(path).read_bytes()
    fmt, i = {}, 12
    while i + 8 <= len(b):
        cid, size = b[i:i + 4], struct.unpack("<I", b[i + 4:i + 8])[0]
        if cid == b"fmt ":
            tag, ch, sr, _, _, bits = struct.unpack("<HHIIHH", b[i + 8:i + 24])
            fmt = {"tag": tag, "channels": ch, "sr": sr, "bits": bits}
        elif cid == b"data":
            return fmt, b[i + 8:i + 8 + size]
        i += 8 + size + (size & 1)
    raise ValueError(f"{path}: no data chunk")
