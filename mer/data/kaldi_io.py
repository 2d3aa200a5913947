"""Key-value text files of a Kaldi data directory (`<key> <value>` per line).

Keys are compared and sorted as bytes (what `LC_ALL=C sort` does), so files written here pass
`utils/validate_data_dir.sh` as they are.
"""
from __future__ import annotations

import codecs
import os
from pathlib import Path
from typing import Iterable, Mapping

from mer.utils.fileio import atomic_open


class DataFileError(ValueError):
    """A malformed line in a data-dir file; the message names the file and the line."""

    def __init__(self, path: str | os.PathLike, lineno: int, problem: str):
        self.path, self.lineno, self.problem = str(path), lineno, problem
        super().__init__(f"{path}:{lineno}: {problem}")


def c_sort_key(key: str) -> bytes:
    """Sort key matching `LC_ALL=C sort`: byte order of the UTF-8 encoding."""
    return key.encode("utf-8")


def read_kv(path: str | os.PathLike, allow_empty_value: bool = False) -> dict[str, str]:
    """Read `<key> <value...>` lines into an insertion-ordered dict.

    Raises DataFileError on a duplicate key, a line without a value, or bytes that are not UTF-8.
    """
    out: dict[str, str] = {}
    with open(path, "rb") as f:  # decoded line by line, so that bad bytes are reported with their line
        for lineno, raw in enumerate(f, 1):
            if lineno == 1 and raw.startswith(codecs.BOM_UTF8):  # not part of the first key
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise DataFileError(path, lineno, f"not valid UTF-8 (byte {e.start + 1} of the line); "
                                                  f"convert the file to UTF-8") from None
            if not line.strip():
                raise DataFileError(path, lineno, "empty line")
            parts = line.split(maxsplit=1)
            key = parts[0]
            value = parts[1].strip() if len(parts) > 1 else ""
            if not value and not allow_empty_value:
                raise DataFileError(path, lineno, f"key '{key}' has no value")
            if key in out:
                raise DataFileError(path, lineno, f"duplicate key '{key}'")
            out[key] = value
    return out


def write_kv(path: str | os.PathLike, items: Mapping[str, str] | Iterable[tuple[str, str]],
             sort: bool = True) -> None:
    """Write `<key> <value>` lines atomically, sorted by key in C order unless told not to."""
    pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
    if sort:
        pairs.sort(key=lambda kv: c_sort_key(kv[0]))
    with atomic_open(path) as f:
        for key, value in pairs:
            if not key or any(c.isspace() for c in key):
                raise ValueError(f"{path}: key {key!r} is empty or contains white space")
            f.write(f"{key} {value}\n" if value != "" else f"{key}\n")


def utt2spk_to_spk2utt(utt2spk: Mapping[str, str]) -> dict[str, str]:
    """spk2utt with speakers and their utterances in C order."""
    groups: dict[str, list[str]] = {}
    for utt, spk in utt2spk.items():
        groups.setdefault(spk, []).append(utt)
    return {spk: " ".join(sorted(utts, key=c_sort_key))
            for spk, utts in sorted(groups.items(), key=lambda kv: c_sort_key(kv[0]))}


def read_list(path: str | os.PathLike) -> list[str]:
    """One item per non-empty line (fold lists, utterance lists)."""
    return [ln.split()[0] for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]
