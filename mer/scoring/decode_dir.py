"""Read what inference saved in a decode directory and check that its files agree.

A decode dir `exp/<protocol>/<config>/fold<k>/decode_<set>/` holds utt2pred, classes,
posteriors.{ark,scp}, embeddings.{ark,scp}, utt2emo (reference) and meta.json. Scoring and plotting
work from these files only, never from a model.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import kaldiio
import numpy as np

from mer.data.dump_table import ArkHome, DumpReadError
from mer.data.kaldi_io import DataFileError, c_sort_key, read_kv

META_FIELDS = ("protocol", "config", "fold", "test_set", "corpus", "system", "aggregation", "modalities")
_MAX_EXAMPLES = 5


class ScoringError(ValueError):
    """Decode outputs that cannot be scored; the message names the file and the problem."""


@dataclass
class DecodeOutputs:
    """One decode dir (or several pooled) in memory, utterances in C order."""
    path: str
    utts: list[str]
    refs: list[str]
    preds: list[str]
    classes: list[str]
    posteriors: np.ndarray | None            # (N, C) in `classes` order, or None if not saved
    meta: dict = field(default_factory=dict)
    ref_path: str | None = None
    out_of_set: list[str] = field(default_factory=list)  # decoded, reference outside `classes`: not scored
    _embedding_loader: Callable[[], np.ndarray | None] | None = field(default=None, repr=False)
    _output_loader: Callable[[str], np.ndarray | None] | None = field(default=None, repr=False)

    def embeddings(self) -> np.ndarray | None:
        """(N, D) pooled vectors in `utts` order, read on demand (they can be large)."""
        return self._embedding_loader() if self._embedding_loader else None

    def output(self, name: str) -> np.ndarray | None:
        """(N, K) extra per-utterance output `name` (`<name>.scp`) in `utts` order, or None."""
        return self._output_loader(name) if self._output_loader else None


def describe_mismatch(a_name: str, a: Sequence[str], b_name: str, b: Sequence[str]) -> str | None:
    """None if the two key sets agree, else a message with counts and a few examples each way."""
    sa, sb = set(a), set(b)
    if sa == sb:
        return None
    parts = []
    for name, only, other in ((a_name, sa - sb, b_name), (b_name, sb - sa, a_name)):
        if only:
            ex = sorted(only, key=c_sort_key)[:_MAX_EXAMPLES]
            more = f" (and {len(only) - len(ex)} more)" if len(only) > len(ex) else ""
            parts.append(f"{len(only)} utterance(s) in {name} missing from {other}, e.g. "
                         f"{', '.join(ex)}{more}")
    return f"utterance sets disagree ({len(sa)} vs {len(sb)}): " + "; ".join(parts)


def read_classes(path: str | os.PathLike) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise ScoringError(f"{path}: missing (the label set in posterior order)")
    classes = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not classes:
        raise ScoringError(f"{path}: empty label set")
    dupes = sorted({c for c in classes if classes.count(c) > 1})
    if dupes:
        raise ScoringError(f"{path}: duplicate label(s) {', '.join(dupes)}")
    return classes


def _read_labels(path: Path, classes: Sequence[str] | None, classes_path: Path, what: str) -> dict[str, str]:
    """`classes=None`: any label is accepted (references may lie outside a model's label set)."""
    if not path.is_file():
        raise ScoringError(f"{path}: missing ({what})")
    try:
        kv = read_kv(path)
    except DataFileError as e:
        raise ScoringError(str(e)) from e
    if not kv:
        raise ScoringError(f"{path}: no utterances")
    known = set(classes or ())
    for utt, label in kv.items() if classes is not None else ():
        if label not in known:
            raise ScoringError(f"{path}: utterance {utt} has label '{label}', which is not in "
                               f"{classes_path} ({' '.join(classes)})")
    return kv


def read_vectors(scp: Path, utts: Sequence[str], dim: int | None, what: str, finite: bool = True) -> np.ndarray:
    """Stack the 1-D vector of every utt (in `utts` order) from a kaldiio scp into (N, D).
    `finite=False`: NaN and inf are kept (plots name and skip what they cannot draw)."""
    try:
        table = read_kv(scp)
    except DataFileError as e:
        raise ScoringError(str(e)) from e
    msg = describe_mismatch(str(scp), list(table), "utt2pred", utts)
    if msg:
        raise ScoringError(f"{scp}: {msg}")
    # A decode dir's arks are its own: one copied with the recipe is read from the copy, not the original
    arks = ArkHome(scp.parent, "run the decode again (stage 4)")
    rows = []
    for utt in utts:
        try:
            entry = arks.entry(table[utt], f"{scp}: utterance {utt}")
        except DumpReadError as e:
            raise ScoringError(str(e)) from None
        try:
            vec = np.asarray(kaldiio.load_mat(entry), dtype=np.float64)
        except Exception as e:  # kaldiio raises several types for a bad offset or missing ark
            raise ScoringError(f"{scp}: utterance {utt}: cannot read {what}: {e}") from e
        if vec.ndim != 1:
            raise ScoringError(f"{scp}: utterance {utt}: {what} has shape {vec.shape}, expected a 1-D vector")
        if dim is not None and vec.shape[0] != dim:
            raise ScoringError(f"{scp}: utterance {utt}: {what} has {vec.shape[0]} values, "
                               f"expected {dim} (one per line of classes)")
        if rows and vec.shape[0] != rows[0].shape[0]:
            raise ScoringError(f"{scp}: utterance {utt}: {what} has {vec.shape[0]} values, "
                               f"but {utts[0]} has {rows[0].shape[0]}")
        if finite and not np.all(np.isfinite(vec)):
            raise ScoringError(f"{scp}: utterance {utt}: {what} contains NaN or inf")
        rows.append(vec)
    arks.say_rebased(scp)
    return np.stack(rows)


_PATH_RE = re.compile(r"(?:^|/)(?P<protocol>[^/]+)/(?P<config>[^/]+)/fold(?P<fold>\d+)/decode_(?P<test_set>[^/]+)/?$")


def refuse_non_finite(out: Path, utts: Sequence[str], posteriors: np.ndarray) -> None:
    """ValueError naming the utterances whose posteriors hold NaN or inf (damaged inputs, a diverged model)."""
    bad = [u for u, ok in zip(utts, np.isfinite(np.asarray(posteriors, dtype=np.float64)).all(axis=1)) if not ok]
    if bad:
        raise ValueError(f"{out}: non-finite posteriors for {len(bad)} of {len(utts)} utterance(s), e.g. "
                         f"{', '.join(bad[:_MAX_EXAMPLES])}: their inputs are damaged or the model diverged; "
                         f"nothing was written (no meta.json), so a re-run after the repair decodes them again")


def write_decode_dir(out: str | os.PathLike, utts: Sequence[str], classes: Sequence[str],
                     posteriors: np.ndarray, embeddings: np.ndarray | None, meta: dict,
                     refs: Mapping[str, str] | None = None, extras: Mapping[str, np.ndarray] | None = None,
                     preds: Sequence[str] | None = None) -> None:
    """Write what inference (or a combiner) leaves for scoring and plots: classes,
    posteriors.{ark,scp}, embeddings.{ark,scp} (optional), one `<name>.{ark,scp}` per extra
    per-utterance output, utt2pred (arg-max of the posteriors, or `preds` for a system whose
    decision rule is not the arg-max, e.g. a threshold), utt2emo (the references of `utts` that
    `refs` has) and meta.json, written last so that its presence means the dir is complete.
    Non-finite posteriors are refused before anything is written, so no meta.json marks such a
    decode done and a re-run after the repair decodes it again."""
    from mer.data.kaldi_io import write_kv
    from mer.utils.fileio import write_json_atomic, write_text_atomic

    out = Path(out)
    refuse_non_finite(out, utts, posteriors)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "classes", "".join(f"{c}\n" for c in classes))
    arrays = {"posteriors": posteriors, **({"embeddings": embeddings} if embeddings is not None else {}),
              **(extras or {})}
    clash = {"posteriors", "embeddings"} & set(extras or {})
    if clash:
        raise ValueError(f"{out}: an extra output may not be called {sorted(clash)}")
    for stale in ({"embeddings"} - set(arrays)):  # a re-run without embeddings must not keep old ones
        for suffix in (".scp", ".ark"):
            (out / f"{stale}{suffix}").unlink(missing_ok=True)
    for name, mats in arrays.items():
        scp_tmp = out / f"{name}.scp.tmp"
        with kaldiio.WriteHelper(f"ark,scp:{(out / f'{name}.ark').resolve()},{scp_tmp}") as w:
            for utt, vec in zip(utts, np.asarray(mats, dtype=np.float32)):
                w(utt, vec)
        os.replace(scp_tmp, out / f"{name}.scp")
    if preds is None:
        preds = [classes[int(i)] for i in np.asarray(posteriors).argmax(1)]
    elif len(preds) != len(utts) or not set(preds) <= set(classes):
        raise ValueError(f"{out}: preds must give one of the classes ({' '.join(classes)}) per utterance")
    write_kv(out / "utt2pred", dict(zip(utts, preds)))
    if refs:
        write_kv(out / "utt2emo", {u: refs[u] for u in utts if refs.get(u) is not None})
    write_json_atomic(out / "meta.json", {**meta, "num_utts": len(utts), "extra_outputs": sorted(extras or {})})


def read_meta(decode_dir: str | os.PathLike) -> dict:
    """meta.json fields, with protocol/config/fold/test_set filled in from the
    `<protocol>/<config>/fold<k>/decode_<set>` path where meta.json lacks them."""
    decode_dir = Path(decode_dir)
    meta: dict = {}
    mpath = decode_dir / "meta.json"
    if mpath.is_file():
        try:
            meta = json.loads(mpath.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ScoringError(f"{mpath}: not valid JSON: {e}") from e
        if not isinstance(meta, dict):
            raise ScoringError(f"{mpath}: expected a JSON object")
    m = _PATH_RE.search(decode_dir.resolve().as_posix())
    if m:
        for key, value in m.groupdict().items():
            if meta.get(key) is None:
                meta[key] = int(value) if key == "fold" else value
    missing = [k for k in ("protocol", "config", "fold") if meta.get(k) is None]
    if missing:
        raise ScoringError(f"{mpath}: missing {', '.join(missing)} (and the path {decode_dir} is not "
                           f"<protocol>/<config>/fold<k>/decode_<set>)")
    return {k: meta.get(k) for k in META_FIELDS} | {k: v for k, v in meta.items() if k not in META_FIELDS}


def _find_ref(decode_dir: Path, ref: str | os.PathLike | None) -> Path:
    if ref is not None:
        return Path(ref)
    own = decode_dir / "utt2emo"
    if own.is_file():
        return own
    # Fall back to the reference that scoring recorded, so plots work on decode dirs scored with --ref.
    spath = decode_dir / "scores.json"
    if spath.is_file():
        try:
            recorded = json.loads(spath.read_text(encoding="utf-8")).get("ref")
        except (json.JSONDecodeError, AttributeError):
            recorded = None
        if recorded and Path(recorded).is_file():
            return Path(recorded)
    raise ScoringError(f"{decode_dir}: no utt2emo here; pass the reference with --ref DATA_DIR/utt2emo")


def load_decode_dir(decode_dir: str | os.PathLike, ref: str | os.PathLike | None = None,
                    need_posteriors: bool = False, keep_out_of_set: bool = False,
                    allow_nonfinite: bool = False) -> DecodeOutputs:
    """Load and cross-check a decode dir. Raises ScoringError naming the file and utterance.
    `keep_out_of_set`: keep utterances whose reference is outside the classes (for combiners).
    `allow_nonfinite`: posteriors, embeddings and extra outputs may hold NaN or inf (for plots)."""
    d = Path(decode_dir)
    if not d.is_dir():
        raise ScoringError(f"{d}: not a directory")
    classes_path = d / "classes"
    classes = read_classes(classes_path)
    pred = _read_labels(d / "utt2pred", classes, classes_path, "predictions from inference")
    ref_path = _find_ref(d, ref)
    refs = _read_labels(ref_path, None, classes_path, "reference labels")
    msg = describe_mismatch(str(d / "utt2pred"), list(pred), str(ref_path), list(refs))
    if msg:
        raise ScoringError(msg)
    every = sorted(pred, key=c_sort_key)
    # References outside the decoded label set (a 3-class model decoded on a 4-class test set, the
    # context turns of a dialogue) are decoded but not scored.
    known = set(classes)
    rows = [i for i, u in enumerate(every) if keep_out_of_set or refs[u] in known]
    if not rows:
        raise ScoringError(f"{ref_path}: no reference label is one of {classes_path} ({' '.join(classes)})")
    utts = [every[i] for i in rows]

    def vectors(name: str, dim: int | None, what: str) -> np.ndarray | None:
        scp = d / f"{name}.scp"
        return read_vectors(scp, every, dim, what, finite=not allow_nonfinite)[rows] if scp.is_file() else None

    posteriors = vectors("posteriors", len(classes), "posterior vector")
    if posteriors is None and need_posteriors:
        raise ScoringError(f"{d / 'posteriors.scp'}: missing")
    return DecodeOutputs(path=str(d), utts=utts, refs=[refs[u] for u in utts], preds=[pred[u] for u in utts],
                         classes=classes, posteriors=posteriors, meta=read_meta(d), ref_path=str(ref_path),
                         out_of_set=[u for u in every if refs[u] not in known],
                         _embedding_loader=lambda: vectors("embeddings", None, "embedding"),
                         _output_loader=lambda name: vectors(name, None, name))


def pool_outputs(parts: Mapping[str, DecodeOutputs], path: str = "pooled") -> DecodeOutputs:
    """Concatenate several decode dirs (e.g. all folds of a config). Utterances are renamed
    `<part>/<utt>` so that a test utterance that recurs in two folds stays two items."""
    if not parts:
        raise ScoringError(f"{path}: nothing to pool")
    names = list(parts)
    classes = parts[names[0]].classes
    for name in names[1:]:
        other = parts[name].classes
        if set(other) != set(classes):
            raise ScoringError(f"cannot pool {path}: {parts[name].path}/classes ({' '.join(other)}) differs "
                               f"from {parts[names[0]].path}/classes ({' '.join(classes)})")
    have_post = all(p.posteriors is not None for p in parts.values())
    utts, refs, preds, posts = [], [], [], []
    for name in names:
        p = parts[name]
        utts += [f"{name}/{u}" for u in p.utts]
        refs += p.refs
        preds += p.preds
        if have_post:
            order = [p.classes.index(c) for c in classes]  # same set; reorder columns if needed
            posts.append(p.posteriors[:, order])

    def concat(what: str, get) -> np.ndarray | None:
        arrays = [get(parts[n]) for n in names]
        if any(a is None for a in arrays):
            return None
        dims = {a.shape[1] for a in arrays}
        if len(dims) > 1:
            raise ScoringError(f"cannot pool {what} of {path}: dimensions differ across parts ({sorted(dims)})")
        return np.concatenate(arrays)

    meta = dict(parts[names[0]].meta)
    meta["fold"] = None
    meta["pooled_from"] = names
    meta["models"] = {name: parts[name].meta.get("model") for name in names}  # describe() per part
    return DecodeOutputs(path=path, utts=utts, refs=refs, preds=preds, classes=list(classes),
                         posteriors=np.concatenate(posts) if have_post else None, meta=meta,
                         out_of_set=[f"{n}/{u}" for n in names for u in parts[n].out_of_set],
                         _embedding_loader=lambda: concat("embeddings", lambda p: p.embeddings()),
                         _output_loader=lambda name: concat(name, lambda p: p.output(name)))
