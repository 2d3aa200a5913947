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


class ArkHome:
    """Keeps the arks of scp entries inside `home`: an entry naming an ark outside it is re-based
    onto `home`'s own copy (its name, or split<N>/<name> as mer.bin.dump_feats writes them), or
    refused with `remedy`."""

    def __init__(self, home: Path, remedy: str):
        self.home, self.remedy = Path(home), remedy
        self._real = self.home.resolve()
        self.arks: dict[str, Path] = {}  # ark as written -> ark read

    def entry(self, entry: str, where: str) -> str:
        m = _ENTRY.match(entry.strip())
        if not m:
            raise DumpReadError(f"{where}: '{entry}' is not ARK:OFFSET")
        ark = m.group("ark")
        if ark not in self.arks:
            self.arks[ark] = self._inside(Path(ark), where)
        return f"{self.arks[ark]}:{m.group('offset')}{m.group('slice') or ''}"

    def _inside(self, ark: Path, where: str) -> Path:
        if not ark.is_absolute():
            ark = Path.cwd() / ark
        if ark.resolve().is_relative_to(self._real):
            return ark
        for n in (1, 2):
            cand = self.home.joinpath(*ark.parts[-n:])
            if cand.is_file():
                return cand
        raise DumpReadError(f"{where}: the ark {ark} lies outside {self.home}, which has no copy of it (a recipe "
                            f"copied with its scp files still pointing at the original?); {self.remedy}")

    def say_rebased(self, scp: Path) -> None:
        moved = {a: p for a, p in self.arks.items() if Path(a) != p}
        if moved:
            a, p = next(iter(moved.items()))
            log.warning("%s names %d ark(s) outside %s (a copied recipe?), e.g. %s: reading the copies in "
                        "%s instead, e.g. %s", scp, len(moved), self.home, a, self.home, p)


def rebased_entries(scp: Path, home: Path, remedy: str) -> tuple[dict[str, str], list[Path]]:
    """utt -> `ark:offset` of `scp`, every ark inside `home` (see ArkHome); and the arks."""
    arks = ArkHome(home, remedy)
    out: dict[str, str] = {}
    for lineno, line in enumerate(scp.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            utt, _, entry = line.strip().partition(" ")
            out[utt] = arks.entry(entry, f"{scp}:{lineno}: utterance {utt}")
    arks.say_rebased(scp)
    return out, sorted(set(arks.arks.values()))


class DumpTable(Mapping):
    """utt -> float matrix of one dump dir, arks checked once when opened."""

    def __init__(self, dump_dir: str | Path, scp_name: str = "feats.scp"):
        import kaldiio

        self._load_mat = kaldiio.load_mat
        self.dir = Path(dump_dir)
        self.scp = self.dir / scp_name
        self.entries, arks = rebased_entries(self.scp, self.dir, "dump the features here again (stage 2)")
        for ark in arks:
            verify_ark(ark, f"re-run stage 2 (mer.bin.dump_feats into {self.dir}): it redoes the job of a "
                            f"damaged ark")

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
