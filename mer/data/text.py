"""Transcript helpers for models that want cleaner text than the data dir keeps.

Data prep keeps transcripts as distributed (IEMOCAP's `[LAUGHTER]` tags included); a model that
wants them gone (MemoCMT's BERT input, for instance) calls `clean_transcript` itself.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

# Non-speech tags as IEMOCAP writes them: [LAUGHTER], [BREATHING], [GARBAGE], ...
_BRACKET_TAG = re.compile(r"\[[^\[\]]*\]")
_SPACES = re.compile(r"\s+")


def clean_transcript(text: str) -> str:
    """Remove bracketed tags like `[LAUGHTER]` and collapse runs of white space.

    >>> clean_transcript("[LAUGHTER]  Okay,  [BREATHING] okay. ")
    'Okay, okay.'
    """
    return _SPACES.sub(" ", _BRACKET_TAG.sub(" ", text)).strip()


# Corpus preparation lists here (`utt<TAB>reason`) the utterances it kept with an empty transcript.
TEXT_MISSING = "text_missing"


def empty_text_allowed(data_dir: str | os.PathLike) -> set[str]:
    """Utterances whose empty transcript corpus preparation recorded with a reason (DATA_DIR/text_missing)."""
    path = Path(data_dir) / TEXT_MISSING
    if not path.is_file():
        return set()
    return {ln.split(maxsplit=1)[0] for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()}


def empty_text_problem(where: str, utt: str, data_dir: str | os.PathLike | None) -> str:
    """Why an empty transcript is refused, and the two ways to allow it."""
    listed = f"list it in {Path(data_dir) / TEXT_MISSING} (`utt<TAB>reason`) or " if data_dir else ""
    return (f"{where}: utterance {utt} has an empty transcript (a text model would see only its special "
            f"tokens); {listed}pass --allow-empty-text where it is meant")
