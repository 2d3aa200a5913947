"""Transcript helpers for models that want cleaner text than the data dir keeps.

Data prep keeps transcripts as distributed (IEMOCAP's `[LAUGHTER]` tags included); a model that
wants them gone (MemoCMT's BERT input, for instance) calls `clean_transcript` itself.
"""
from __future__ import annotations

import re

# Non-speech tags as IEMOCAP writes them: [LAUGHTER], [BREATHING], [GARBAGE], ...
_BRACKET_TAG = re.compile(r"\[[^\[\]]*\]")
_SPACES = re.compile(r"\s+")


def clean_transcript(text: str) -> str:
    """Remove bracketed tags like `[LAUGHTER]` and collapse runs of white space.

    >>> clean_transcript("[LAUGHTER]  Okay,  [BREATHING] okay. ")
    'Okay, okay.'
    """
    return _SPACES.sub(" ", _BRACKET_TAG.sub(" ", text)).strip()
