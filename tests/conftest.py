"""Fixtures shared by the whole test tree: tiny hub stand-ins, tiny encoders, corpus miniatures."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.helpers import REPO
from tests.helpers.corpora import leaky_corpus, mosei_corpus, readme_corpus  # noqa: F401  (fixtures)
from tests.helpers.models import tiny_bert, tiny_speech_encoders  # noqa: F401  (fixtures)


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_hub_home(tmp_path_factory) -> Path:
    """An HF_HOME whose hub cache holds tiny random stand-ins of every hub model the recipes name
    (tools/make_tiny_hub_models.py), built once per session. Pass it as HF_HOME with
    HF_HUB_OFFLINE=1: `from_pretrained("bert-base-uncased")` then finds it as a download."""
    tool = _load_tool("make_tiny_hub_models")
    home = tmp_path_factory.mktemp("hf_home")
    hub = home / "hub"
    tool.make_tiny_models(tool.DEFAULT_MODELS, hub)
    problems = tool.check_cache(hub, tool.DEFAULT_MODELS)
    assert problems == [], problems
    return home


@pytest.fixture
def tiny_hub_env(tiny_hub_home, monkeypatch) -> Path:
    """The tiny hub models visible to this process (transformers reads HF_HOME when it resolves a
    hub id, so the variables are set before every call; HF_HUB_CACHE follows HF_HOME)."""
    import huggingface_hub.constants as hf_constants

    monkeypatch.setenv("HF_HOME", str(tiny_hub_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tiny_hub_home / "hub"))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    return tiny_hub_home


PAPER_RECIPES = "test_paper_recipes.py"


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    """Everything under tests/recipes/ runs whole recipes: marked slow without a mark per file, so
    `make unit` (-m "not slow") leaves them out."""
    recipes = REPO / "tests" / "recipes"
    for item in items:
        if recipes in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)
        # `make test` runs two workers (pytest-xdist, --dist loadgroup): a module's tests stay on one
        # worker, so its module fixtures (a recipe run, a tiny model) are made once; the paper
        # recipes, the longest tests and independent of each other, are shared out one by one.
        if Path(item.fspath).name != PAPER_RECIPES:
            item.add_marker(pytest.mark.xdist_group(Path(item.fspath).relative_to(REPO).as_posix()))
