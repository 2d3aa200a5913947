"""Offline pretrained models by short name.

The machines this project runs on cannot reach the Hugging Face hub; tools/prepare_models.sh
(an installer step, run by tools/install.sh) makes real pretrained models into transformers
directories under `models_dir()`:

- `minilm`: sentence-transformers/all-MiniLM-L6-v2 (a 6-layer BERT);
- `whisper-tiny.en`: Whisper tiny.en, converted from CTranslate2;
- `whisper-base`: Whisper base (multilingual), converted from CTranslate2.

`resolve_model` maps those short names to their directories; any other name (a hub id or a local
directory) passes through unchanged to `from_pretrained`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR_ENV = "MER_MODELS_DIR"
MARKER = ".mer-complete"  # written last; its presence (and its listed files) means "complete"
MODEL_NAMES = ("minilm", "whisper-tiny.en", "whisper-base")


class PretrainedError(RuntimeError):
    """A pretrained model named by its short name is not prepared."""


def is_complete(model_dir: str | os.PathLike) -> bool:
    """True if `model_dir` was fully written: its marker exists and every file it lists resolves."""
    model_dir = Path(model_dir)
    try:
        files = json.loads((model_dir / MARKER).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return all((model_dir / f).is_file() for f in files)  # is_file() is False for a dead symlink


def models_dir() -> Path:
    """Where prepared models live: $MER_MODELS_DIR, else <repo>/tools/models."""
    env = os.environ.get(MODELS_DIR_ENV)
    return Path(env) if env else REPO_ROOT / "tools" / "models"


def resolve_model(name_or_dir: str | os.PathLike) -> str:
    """Map a short name (`minilm`, `whisper-tiny.en`, `whisper-base`) to its prepared directory.

    A short name whose directory is not prepared is an error (from_pretrained would otherwise
    try the hub with it). Anything else (a hub id, a local directory) is returned unchanged.
    """
    name = os.fspath(name_or_dir)
    if name not in MODEL_NAMES:
        return name
    path = models_dir() / name
    if not is_complete(path):
        raise PretrainedError(f"pretrained model '{name}' is not prepared at {path}; "
                              f"run tools/prepare_models.sh (or set ${MODELS_DIR_ENV})")
    return str(path)
