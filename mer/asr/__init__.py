"""Speech recognition with Whisper (transformers) and WER scoring.

`score_wer(refs, hyps)`: WER with S/D/I/hits and per-utterance alignments; see mer.asr.wer.
`normalize_text(text)`: the normalisation used for scoring; see mer.asr.normalize.
"""
from __future__ import annotations

from mer.asr.normalize import normalize_text
from mer.asr.wer import score_wer, wer_summary

__all__ = ["normalize_text", "score_wer", "wer_summary"]
