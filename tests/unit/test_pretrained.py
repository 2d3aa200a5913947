"""resolve_model: short names of the prepared offline models, everything else passes through."""
from __future__ import annotations

import json
import os

import pytest

from mer import pretrained
from mer.pretrained import PretrainedError, resolve_model


def test_resolve_model_short_names_passthrough_and_env(tmp_path, monkeypatch):
    monkeypatch.delenv(pretrained.MODELS_DIR_ENV, raising=False)
    assert pretrained.models_dir() == pretrained.REPO_ROOT / "tools" / "models"
    for other in ("bert-base-uncased", "facebook/hubert-base-ls960", str(tmp_path), "minilm2"):
        assert resolve_model(other) == other
    assert resolve_model(tmp_path) == str(tmp_path)  # a Path comes back as its string

    monkeypatch.setenv(pretrained.MODELS_DIR_ENV, str(tmp_path))
    with pytest.raises(PretrainedError, match="prepare_models.sh") as err:
        resolve_model("minilm")
    assert str(tmp_path / "minilm") in str(err.value)
    # a directory with its marker and the files it lists counts as prepared
    for name in pretrained.MODEL_NAMES:
        d = tmp_path / name
        d.mkdir()
        (d / "config.json").write_text("{}")
        (d / pretrained.MARKER).write_text(json.dumps({"files": ["config.json"]}))
        assert resolve_model(name) == str(d)
    os.unlink(tmp_path / "minilm" / "config.json")
    with pytest.raises(PretrainedError, match="not prepared"):
        resolve_model("minilm")
