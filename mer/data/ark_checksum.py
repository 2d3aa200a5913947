"""A sha256 per ark: Kaldi arks carry no checksum, so a flipped byte changes features silently.

`mer.bin.dump_feats` writes `<ark>.sha256` (the `sha256sum` format: `sha256sum -c` checks it from
the ark's folder) when a job finishes; a stage that opens the dump checks each ark once per process
(`verify_ark`), and stage 2 redoes a finished job whose ark no longer matches (`ark_matches`).
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from mer.utils.fileio import write_text_atomic

log = logging.getLogger("mer.data")

SUFFIX = ".sha256"
_CHUNK = 4 << 20
# Arks found intact by this process: resolved path -> (size, mtime_ns) when checked.
_verified: dict[str, tuple[int, int]] = {}


class ArkChecksumError(ValueError):
    """An ark whose bytes differ from those its dump job wrote; the message names it."""


def checksum_path(ark: str | os.PathLike) -> Path:
    ark = Path(ark)
    return ark.with_name(ark.name + SUFFIX)


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def write_checksum(ark: str | os.PathLike, final: str | os.PathLike | None = None) -> None:
    """Checksum of `ark` (a job's temporary file) beside `final`, the name it is renamed to."""
    final = Path(final or ark)
    write_text_atomic(checksum_path(final), f"{file_sha256(ark)}  {final.name}\n")


def recorded_checksum(ark: str | os.PathLike) -> str | None:
    """The sha256 recorded at dump time, or None for a dump made before checksums were written."""
    path = checksum_path(ark)
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8").split(maxsplit=1)[0] if path.stat().st_size else ""


def ark_matches(ark: str | os.PathLike) -> bool:
    """False when the ark is missing or differs from its recorded checksum; True when it matches or
    has none to compare with."""
    ark = Path(ark)
    want = recorded_checksum(ark)
    if want is None:
        return ark.is_file()
    if not ark.is_file():
        return False
    key, stamp = str(ark.resolve()), _stamp(ark)
    if _verified.get(key) == stamp:
        return True
    if file_sha256(ark) != want:
        return False
    _verified[key] = stamp
    return True


def verify_ark(ark: str | os.PathLike, remedy: str) -> None:
    """Raise ArkChecksumError naming `ark` (and `remedy`) when it no longer matches its checksum;
    an ark without one (an older dump) is read as it is, with a warning once."""
    ark = Path(ark)
    if recorded_checksum(ark) is None:
        key = str(ark.resolve())
        if key not in _verified:
            log.warning("%s has no checksum (%s): it cannot be checked for damage; %s to get one",
                        ark, checksum_path(ark).name, remedy)
            _verified[key] = (-1, -1)
        return
    if not ark_matches(ark):
        raise ArkChecksumError(f"{ark}: its bytes differ from the sha256 in {checksum_path(ark)} written when it "
                               f"was dumped (the file is damaged or was changed since); {remedy}")


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns
