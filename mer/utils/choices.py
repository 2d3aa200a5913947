"""One message for a setting outside its allowed values."""
from __future__ import annotations

from collections.abc import Iterable


def check_choice(key: str, value, choices: Iterable) -> None:
    """Raise ValueError naming `key`, the allowed values and the value given."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{key} must be one of {choices}, got '{value}'")
