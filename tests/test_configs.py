"""Every recipe config loads, and its model builds (a dry run, as ESPnet CI does for its yaml)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mer.features import FEATURE_TYPES
from mer.models import build_model, model_streams
from mer.models.streams import StreamInfo
from mer.train.config import load_config

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted(REPO.glob("egs/*/*/conf/tuning/*.yaml"))
FEATS = sorted(REPO.glob("egs/*/*/conf/feats.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(REPO / "egs")))
def test_training_config_builds(config):
    conf = load_config(config)
    recipe = config.parents[2]
    dumps = yaml.safe_load((recipe / "conf/feats.yaml").read_text())
    finetune = bool((conf["model"].get("text_encoder") or {}).get("finetune"))
    for stream in model_streams(conf["model"]):
        if stream == "text" and finetune:
            continue
        assert conf["features"][stream] in dumps, f"features.{stream} names no dump of conf/feats.yaml"
    if finetune:
        pytest.skip("fine-tunes a hub model; its build needs the weights")
    model = build_model(conf["model"], 4, {"audio": StreamInfo(32, 3), "text": StreamInfo(32, 1)})
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize("feats", FEATS, ids=lambda p: str(p.relative_to(REPO / "egs")))
def test_feats_config_entries_are_dump_options(feats):
    from mer.bin.dump_feats import get_parser

    known = {a.dest for a in get_parser()._actions}
    for name, opts in yaml.safe_load(feats.read_text()).items():
        assert opts["feature"] in FEATURE_TYPES, name
        assert set(opts) <= known, f"{name}: unknown options {set(opts) - known}"


def test_cmd_sh_is_the_same_in_every_recipe():
    # Recipes copy cmd.sh so that sites can edit it; in the repository they stay identical
    # (ESPnet's CI checks the same), so a fix to the template reaches every recipe.
    template = (REPO / "egs/TEMPLATE/emo1/cmd.sh").read_bytes()
    copies = sorted(REPO.glob("egs/*/*/cmd.sh"))
    assert len(copies) >= 6
    assert [c for c in copies if c.read_bytes() != template] == []
