"""Reading the members of a packed model (a tar.gz) without trusting their sizes or contents.

A member is streamed in chunks and refused, by name, once it grows past what a pack could hold:
a few KiB of gzip can expand to GiB of zeros. The members a reader does not use are skipped unread.
Every error names the pack and the member.
"""
from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Callable

_CHUNK = 1 << 20
TEXT_MEMBER_MAX = 16 << 20  # config, classes, JSON: a few KiB in any real pack
# Weights barely compress, text a few times: more than this many bytes out per byte of archive is
# not a pack but a decompression bomb (with a floor, for small packs of text-heavy members).
MAX_EXPANSION, MIN_BUDGET = 20, 64 << 20


class PackMemberError(ValueError):
    """A pack member that is too large, unreadable or malformed; the message names pack and member."""


def read_members(path: str | Path, wanted: Callable[[str], bool], is_text: Callable[[str], bool]) -> dict[str, bytes]:
    """name (below the pack's top folder) -> bytes of every regular member that `wanted` accepts."""
    path = Path(path)
    budget = max(MIN_BUDGET, MAX_EXPANSION * path.stat().st_size)
    files: dict[str, bytes] = {}
    with tarfile.open(path, mode="r:*") as tar:
        for m in tar:
            name = m.name.split("/", 1)[1] if "/" in m.name else m.name
            if not m.isfile() or not wanted(name):
                continue
            limit = min(budget, TEXT_MEMBER_MAX) if is_text(name) else budget
            files[name] = _read_capped(tar, m, f"{path}: member {name}", limit)
            budget -= len(files[name])
    return files


def _read_capped(tar: tarfile.TarFile, m: tarfile.TarInfo, where: str, limit: int) -> bytes:
    too_big = (f"{where}: larger than {limit / 2**20:.0f} MiB, more than a pack of this size holds "
               f"(a damaged or forged pack); not read further")
    if m.size > limit:  # the header says so already
        raise PackMemberError(f"{too_big} (its header gives {m.size} bytes)")
    f = tar.extractfile(m)
    parts, n = [], 0
    while chunk := f.read(_CHUNK):
        n += len(chunk)
        if n > limit:
            raise PackMemberError(too_big)
        parts.append(chunk)
    return b"".join(parts)


def parse_json(where: str, data: bytes):
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise PackMemberError(f"{where}: not valid JSON ({e})") from None


def parse_yaml(where: str, data: bytes):
    import yaml

    try:
        return yaml.safe_load(data)
    except yaml.YAMLError as e:
        raise PackMemberError(f"{where}: not valid YAML ({' '.join(str(e).split())})") from None


def parse_text(where: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PackMemberError(f"{where}: not UTF-8 text ({e})") from None
