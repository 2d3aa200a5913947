"""Subset a data dir, and split it into parts for parallel jobs (Kaldi's `subset_data_dir.sh`,
`split_data.sh`).

Subsetting keeps every file consistent: per-utterance files (text, utt2emo, segments, feats.scp,
utt2<name>) by utterance, wav.scp and reco2dur by the recordings the kept segments use,
spk2gender/cmvn.scp by the kept speakers; spk2utt is regenerated.

`split_data(DIR, N)` writes `DIR/splitN/{1..N}` with each speaker in one part (Kaldi's default),
`by="utt"` writes `DIR/splitNutt/{1..N}`. Parts are balanced by utterance count and the same input
always gives the same parts. A split newer than every file of DIR is reused as it is.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterable, NamedTuple

from mer.data.datadir import GLOBAL_FILES, DataDir, data_files
from mer.data.kaldi_io import c_sort_key, read_kv, read_list
from mer.utils.fileio import write_text_atomic

SPLIT_MARKER = ".complete"


class SubsetResult(NamedTuple):
    data: DataDir
    num_total: int
    warnings: list[str]


def _parse_values(values: str | Iterable[str]) -> list[str]:
    items = values.split(",") if isinstance(values, str) else list(values)
    out = [v.strip() for v in items if v.strip()]
    if not out:
        raise ValueError("empty list of values to select")
    return out


def _select_by_value(utt2value: dict[str, str], wanted: list[str], what: str, source: str) -> set[str]:
    """Utterances whose value is in `wanted`; every wanted value must occur (typos are errors)."""
    present = set(utt2value.values())
    unknown = [v for v in wanted if v not in present]
    if unknown:
        raise ValueError(f"{source}: no utterance has {what} {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(sorted(present, key=c_sort_key))}")
    wanted_set = set(wanted)
    return {u for u, v in utt2value.items() if v in wanted_set}


def select_utts(data: DataDir, *, utts: Iterable[str] | None = None, speakers: Iterable[str] | None = None,
                sessions: str | Iterable[str] | None = None, fold_file: str | os.PathLike | None = None,
                folds: str | Iterable[str] | None = None, complement: bool = False,
                source: str = "data dir") -> tuple[list[str], list[str]]:
    """The utterances chosen by exactly one selector (C-sorted), and warnings.

    utts / speakers: ids not in the data dir are ignored with a warning (lists made for a whole
    corpus are routinely applied to a part of it). sessions (from utt2session) and folds (from
    `fold_file`, lines `<utt> <fold>`): every value asked for must occur, so a typo is an error.
    complement: keep every utterance the selector did not choose.
    """
    given = [x is not None for x in (utts, speakers, sessions, fold_file)]
    if sum(given) != 1:
        raise ValueError("give exactly one of an utterance list, a speaker list, sessions or a fold file")
    warnings: list[str] = []
    if utts is not None:
        wanted = set(utts)
        chosen = wanted & data.utt2spk.keys()
        if len(chosen) < len(wanted):
            unknown = sorted(wanted - chosen, key=c_sort_key)
            warnings.append(f"{len(unknown)} listed utterance(s) are not in {source}, e.g. {unknown[0]}")
    elif speakers is not None:
        wanted = set(speakers)
        chosen = {u for u, s in data.utt2spk.items() if s in wanted}
        unknown = sorted(wanted - set(data.utt2spk.values()), key=c_sort_key)
        if unknown:
            warnings.append(f"{len(unknown)} listed speaker(s) are not in {source}, e.g. {unknown[0]}")
    elif sessions is not None:
        if "utt2session" not in data.extra:
            raise ValueError(f"{source}: no utt2session file to select sessions from")
        chosen = _select_by_value(data.extra["utt2session"], _parse_values(sessions), "session",
                                  f"{source}/utt2session")
    else:
        if folds is None:
            raise ValueError("a fold file needs the folds to select")
        fold_of = {u: v.split()[0] for u, v in read_kv(fold_file).items()}
        fold_of = {u: f for u, f in fold_of.items() if u in data.utt2spk}
        chosen = _select_by_value(fold_of, _parse_values(folds), "fold", str(fold_file))
    if complement:
        chosen = data.utt2spk.keys() - chosen
    if not chosen:
        raise ValueError(f"{source}: the selection holds no utterance")
    return sorted(chosen, key=c_sort_key), warnings


def write_data_dir(data: DataDir, dst: str | os.PathLike, src: str | os.PathLike | None = None) -> list[str]:
    """Save `data` into dst, remove data files left there from before, copy src's global files."""
    dst = Path(dst)
    stale = set()
    if dst.is_dir():
        stale = set(data_files(dst)) | {n for n in GLOBAL_FILES if (dst / n).is_file()}
    written = data.save(dst)
    if src is not None:
        for name in GLOBAL_FILES:
            if (Path(src) / name).is_file():
                shutil.copyfile(Path(src) / name, dst / name)
                written.append(name)
    for name in stale - set(written):
        (dst / name).unlink()
    return written


def subset_data_dir(src: str | os.PathLike, dst: str | os.PathLike, *,
                    utt_list: str | os.PathLike | None = None, spk_list: str | os.PathLike | None = None,
                    sessions: str | Iterable[str] | None = None, fold_file: str | os.PathLike | None = None,
                    folds: str | Iterable[str] | None = None, complement: bool = False) -> SubsetResult:
    """Write the chosen part of src to dst (lists: one id per line, first column)."""
    src, dst = Path(src), Path(dst)
    if dst.resolve() == src.resolve():
        raise ValueError(f"{dst}: the destination is the source dir")
    data = DataDir.load(src)
    chosen, warnings = select_utts(
        data, utts=read_list(utt_list) if utt_list is not None else None,
        speakers=read_list(spk_list) if spk_list is not None else None,
        sessions=sessions, fold_file=fold_file, folds=folds, complement=complement, source=str(src))
    sub = data.subset(chosen)
    write_data_dir(sub, dst, src=src)
    return SubsetResult(sub, len(data), warnings)


def partition(data: DataDir, n: int, by: str = "speaker") -> list[list[str]]:
    """Utterance lists of n parts, balanced by utterance count, deterministic.

    by="speaker": whole speakers, largest first, each into the part with fewest utterances so far
    (ties: the lower part number). by="utt": consecutive runs of the C-sorted utterances whose
    sizes differ by at most one.
    """
    if n < 1:
        raise ValueError(f"the number of parts must be at least 1, not {n}")
    if by == "utt":
        utts = data.utts
        if n > len(utts):
            raise ValueError(f"cannot split {len(utts)} utterances into {n} parts")
        q, r = divmod(len(utts), n)
        bounds = [i * q + min(i, r) for i in range(n + 1)]
        return [utts[bounds[i]:bounds[i + 1]] for i in range(n)]
    if by != "speaker":
        raise ValueError(f"split by 'speaker' or 'utt', not {by!r}")
    groups: dict[str, list[str]] = {}
    for utt in data.utts:
        groups.setdefault(data.utt2spk[utt], []).append(utt)
    if n > len(groups):
        raise ValueError(f"cannot split {len(groups)} speaker(s) into {n} parts by speaker; "
                         f"split per utterance (--per-utt) or use at most {len(groups)} parts")
    parts: list[list[str]] = [[] for _ in range(n)]
    for spk in sorted(groups, key=lambda s: (-len(groups[s]), c_sort_key(s))):
        target = min(range(n), key=lambda i: (len(parts[i]), i))
        parts[target].extend(groups[spk])
    return [sorted(p, key=c_sort_key) for p in parts]


def split_dir_name(n: int, by: str = "speaker") -> str:
    return f"split{n}utt" if by == "utt" else f"split{n}"


def _split_is_current(src: Path, out: Path, n: int) -> bool:
    marker = out / SPLIT_MARKER
    if not marker.is_file() or marker.read_text(encoding="utf-8").split() != [str(n)]:
        return False
    if not all((out / str(i) / "utt2spk").is_file() for i in range(1, n + 1)):
        return False
    newest = max((src / name).stat().st_mtime_ns for name in data_files(src))
    return marker.stat().st_mtime_ns >= newest


def split_data(path: str | os.PathLike, n: int, by: str = "speaker", force: bool = False) -> list[Path]:
    """Write DIR/split{N}/{1..N} (by="utt": split{N}utt) and return the part dirs.

    An existing split is reused when its marker is newer than every data file of DIR.
    """
    src = Path(path)
    out = src / split_dir_name(n, by)
    parts = [out / str(i) for i in range(1, n + 1)]
    if not force and n >= 1 and _split_is_current(src, out, n):
        return parts
    data = DataDir.load(src)
    assignment = partition(data, n, by)
    (out / SPLIT_MARKER).unlink(missing_ok=True)
    for part, utts in zip(parts, assignment):
        write_data_dir(data.subset(utts), part, src=src)
    write_text_atomic(out / SPLIT_MARKER, f"{n}\n")
    return parts
