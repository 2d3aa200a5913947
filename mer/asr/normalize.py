"""Text normalisation before WER scoring: the same for references and hypotheses.

English (`language` None or "en"): Whisper's English normaliser, `EnglishTextNormalizer` from
`transformers.models.whisper.english_normalizer` (the one the Whisper paper scores with). It
lower-cases; drops text in brackets/parentheses and the fillers hmm/mm/mhm/mmm/uh/um; expands
common contractions and titles ("can't" -> "can not", "Mr." -> "mister"); writes spelled numbers,
ordinals and currency as digits ("twenty one" -> "21", "first" -> "1st", "twenty-one dollars and
five cents" -> "$21.05", "1,000" -> "1000"); replaces other punctuation and symbols by spaces
(keeping "$", "%" and the decimal point of numbers) and collapses white space. Its British ->
American spelling map (`english.json` in openai-whisper, `normalizer.json` beside a hub
tokenizer) is not used: the offline models ship none, and scores must not depend on which model
directory happens to carry it. So "colour" and "color" stay different words.

Other languages: Whisper's `BasicTextNormalizer` (lower-case, punctuation and symbols to spaces,
white space collapsed).
"""
from __future__ import annotations

from functools import lru_cache

ENGLISH = {"name": "whisper-english",
           "description": "transformers EnglishTextNormalizer (Whisper's): lower-case, no punctuation, "
                          "bracketed text and fillers dropped, contractions expanded, numbers as digits, "
                          "white space collapsed; no British->American spelling map"}
BASIC = {"name": "whisper-basic",
         "description": "transformers BasicTextNormalizer (Whisper's): lower-case, punctuation and "
                        "symbols to spaces, white space collapsed"}


def is_english(language: str | None) -> bool:
    return language is None or language.lower() in ("en", "english")


@lru_cache(maxsize=None)
def _normalizer(english: bool):
    from transformers.models.whisper.english_normalizer import BasicTextNormalizer, EnglishTextNormalizer

    return EnglishTextNormalizer({}) if english else BasicTextNormalizer()


def normalizer_info(language: str | None = None) -> dict:
    """What `normalize_text` does for `language`, as recorded in wer.json."""
    return dict(ENGLISH if is_english(language) else BASIC)


def normalize_text(text: str, language: str | None = None) -> str:
    """`text` as it is compared in WER scoring (see the module docstring)."""
    return " ".join(_normalizer(is_english(language))(text).split())
