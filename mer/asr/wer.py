"""Word error rate of hypotheses against references, with per-utterance alignments.

The edit distance and alignment come from jiwer (Levenshtein over words); both sides are first
normalised by `mer.asr.normalize.normalize_text`. WER = (S + D + I) / N with N the reference words
(S + D + hits); it is None when the references hold no word at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from mer.asr.normalize import normalize_text, normalizer_info
from mer.data.kaldi_io import c_sort_key
from mer.utils.fileio import atomic_open, write_json_atomic

# jiwer's chunk types -> Kaldi's align-text op letters (C correct, S, I, D).
_OPS = {"equal": "C", "substitute": "S", "insert": "I", "delete": "D"}
_GAP = "***"


@dataclass
class UttAlignment:
    utt: str
    ref: list[str]    # aligned: _GAP where the hypothesis inserted a word
    hyp: list[str]    # aligned: _GAP where the reference word was deleted
    ops: list[str]    # C/S/I/D per aligned position

    def count(self, op: str) -> int:
        return self.ops.count(op)


def align(utt: str, ref: str, hyp: str) -> UttAlignment:
    """Word alignment of two (already normalised) strings."""
    import jiwer

    ref_words, hyp_words = ref.split(), hyp.split()
    if not ref_words and not hyp_words:
        return UttAlignment(utt, [], [], [])
    out = jiwer.process_words(" ".join(ref_words), " ".join(hyp_words))
    a = UttAlignment(utt, [], [], [])
    for chunk in out.alignments[0]:
        op = _OPS[chunk.type]
        r = ref_words[chunk.ref_start_idx:chunk.ref_end_idx]
        h = hyp_words[chunk.hyp_start_idx:chunk.hyp_end_idx]
        n = max(len(r), len(h))  # equal/substitute: same length; insert/delete: one side empty
        a.ref += r or [_GAP] * n
        a.hyp += h or [_GAP] * n
        a.ops += [op] * n
    return a


def score_wer(refs: Mapping[str, str], hyps: Mapping[str, str], language: str | None = None,
              normalize: bool = True) -> dict:
    """WER of `hyps` against `refs` (utt -> text) over the utterances both hold.

    Returns wer, substitutions, deletions, insertions, hits, ref_words, num_utts,
    refs_without_hyp, hyps_without_ref, normalisation, and `alignments` (UttAlignment per utt,
    C-sorted; `write_alignments` prints them, `wer_summary` drops them for JSON)."""
    utts = sorted(set(refs) & set(hyps), key=c_sort_key)
    norm = (lambda t: normalize_text(t, language)) if normalize else (lambda t: " ".join(t.split()))
    alignments = [align(u, norm(refs[u]), norm(hyps[u])) for u in utts]
    s, d, i, c = (sum(a.count(op) for a in alignments) for op in "SDIC")
    n = s + d + c
    return {
        "wer": (s + d + i) / n if n else None,
        "substitutions": s, "deletions": d, "insertions": i, "hits": c, "ref_words": n,
        "num_utts": len(utts),
        "refs_without_hyp": len(set(refs) - set(hyps)), "hyps_without_ref": len(set(hyps) - set(refs)),
        "normalisation": normalizer_info(language) if normalize else {"name": "none",
                                                                      "description": "white space only"},
        "alignments": alignments,
    }


def wer_summary(result: dict) -> dict:
    """`score_wer`'s result without the alignments (what wer.json holds)."""
    return {k: v for k, v in result.items() if k != "alignments"}


def write_alignments(path, alignments: list[UttAlignment]) -> None:
    """Kaldi's per-utterance detail format (as wer_per_utt_details.pl writes it), atomically:
    `<utt> ref`, `<utt> hyp`, `<utt> op` lines with columns padded to line up, then
    `<utt> #csid C S I D`."""
    with atomic_open(path) as f:
        for a in alignments:
            widths = [max(len(r), len(h)) for r, h in zip(a.ref, a.hyp)]
            for tag, words in (("ref", a.ref), ("hyp", a.hyp), ("op", a.ops)):
                cells = " ".join(w.ljust(n) for w, n in zip(words, widths))
                f.write(f"{a.utt} {tag.ljust(3)} {cells}".rstrip() + "\n")
            f.write(f"{a.utt} #csid {a.count('C')} {a.count('S')} {a.count('I')} {a.count('D')}\n")


def write_wer(out_dir, result: dict) -> None:
    """OUT_DIR/wer.json and OUT_DIR/alignment.txt of a `score_wer` result."""
    write_json_atomic(Path(out_dir) / "wer.json", wer_summary(result))
    write_alignments(Path(out_dir) / "alignment.txt", result["alignments"])
