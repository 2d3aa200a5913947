"""The matrices of one feature dump (`feats.scp` and its arks), read with their integrity checked.

- The arks a `feats.scp` names must lie inside the dump dir. A recipe copied with `cp -a` has scp
  lines with the original's absolute paths: each is re-based onto the copy's own ark where the copy
  has it (said once), and refused otherwise, rather than read from the original silently.
- Each ark is checked against the sha256 written when it was dumped (`mer.data.ark_checksum`),
  once per ark and process, when the dump is opened.
- A matrix that cannot be read (a damaged header, a cut ark) is reported with its utterance and
  `ark:offset`, not as a bare MemoryError.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from mer.data.ark_checksum import verify_ark

log = logging.getLogger("mer.data")

_ENTRY = re.compile(r"^(?P<ark>.+):(?P<offset>\d+)(?P<slice>\[.*\])?$")


class DumpReadError(ValueError):
    """A dump whose scp or arks cannot be trusted or read; the message names file, utterance and place."""


def rebased_entries(scp: Path, home: Path) -> tuple[dict[str, str], list[Path]]:
    """utt -> `ark:offset` of `scp`, every ark inside `home` (re-based there when it pointed outside);
    and the arks."""
    home_real = home.resolve()
    out: dict[str, str] = {}
    moved: dict[str, Path] = {}
    for lineno, line in enumerate(scp.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        utt, _, entry = line.strip().partition(" ")
        m = _ENTRY.match(entry.strip())
        if not m:
            raise DumpReadError(f"{scp}:{lineno}: utterance {utt}: '{entry}' is not ARK:OFFSET")
        ark = m.group("ark")
        if ark not in moved:
            moved[ark] = _inside(Path(ark), home, home_real, f"{scp}:{lineno}: utterance {utt}")
        out[utt] = f"{moved[ark]}:{m.group('offset')}{m.group('slice') or ''}"
    rebased = {a: p for a, p in moved.items() if Path(a) != p}
    if rebased:
        a, p = next(iter(rebased.items()))
        log.warning("%s names %d ark(s) outside %s (a copied recipe?), e.g. %s: reading this dump's own "
                    "copies instead, e.g. %s", scp, len(rebased), home, a, p)
    return out, sorted(set(moved.values()))


def _inside(ark: Path, home: Path, home_real: Path, where: str) -> Path:
    if not ark.is_absolute():
        ark = Path.cwd() / ark
    if ark.resolve().is_relative_to(home_real):
        return ark
    for n in (1, 2):  # the ark's own name, or split<N>/<name> as mer.bin.dump_feats writes them
        cand = home.joinpath(*ark.parts[-n:])
        if cand.is_file():
            return cand
    raise DumpReadError(f"{where}: the ark {ark} lies outside the dump dir {home}, which has no copy of it "
                        f"(a recipe copied with its scp files still pointing at the original?); dump the "
                        f"features here again (stage 2)")


class DumpTable(Mapping):
    """utt -> float matrix of one dump dir, arks checked once when opened."""

    def __init__(self, dump_dir: str | Path, scp_name: str = "feats.scp"):
        import kaldiio

        self._load_mat = kaldiio.load_mat
        self.dir = Path(dump_dir)
        self.scp = self.dir / scp_name
        self.entries, arks = rebased_entries(self.scp, self.dir)
        remedy = f"re-run stage 2 (mer.bin.dump_feats into {self.dir}): it redoes the job of a damaged ark"
        for ark in arks:
            verify_ark(ark, remedy)

    def __getitem__(self, utt: str) -> np.ndarray:
        entry = self.entries[utt]
        try:
            return self._load_mat(entry)
        except Exception as e:  # noqa: BLE001 - a damaged ark fails as MemoryError, ValueError, EOFError...
            raise DumpReadError(f"{self.scp}: utterance {utt}: its matrix at {entry} cannot be read "
                                f"({e.__class__.__name__}: {e}); the ark is damaged: re-run stage 2 (mer.bin.dump_feats "
                                f"into {self.dir})") from None

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)
