"""The README's worked example of a new system runs as written: the model registers, its config
builds it, and it trains and decodes through the unchanged trainer."""
from __future__ import annotations

import re

import torch
import yaml

from mer.models import MODEL_CLASSES, build_model, model_input_names
from mer.train.config import load_config
from mer.inputs import EmotionDataset, LabelMap, open_inputs
from mer.train.dist import init_distributed
from mer.inference import predict
from mer.train.trainer import Trainer
from tests.helpers import REPO
from tests.helpers.training import LABELS, make_corpus

README = REPO / "README.md"


def _blocks(lang: str) -> list[str]:
    text = README.read_text()
    section = text[text.index("## Adding a system"):]
    return re.findall(rf"```{lang}\n(.*?)```", section, re.S)


def test_readme_new_system_example(tmp_path):
    module_code = _blocks("python")[0]
    assert "@register_model(\"meanpool\")" in module_code
    exec(compile(module_code, "README:meanpool", "exec"), {"__name__": "readme_meanpool"})
    assert "meanpool" in MODEL_CLASSES
    config = yaml.safe_load(_blocks("yaml")[0])
    root = make_corpus(tmp_path, num_speakers=4, utts_per_speaker=8)
    cfg = tmp_path / "train_meanpool.yaml"
    cfg.write_text(yaml.safe_dump({**config, "inputs": {"audio": "audio"}}))  # the fixture's dump name
    conf = load_config(cfg, ["train.epochs=2"])
    label_map = LabelMap(None, LABELS)
    inputs = open_inputs(conf, root / "dump", model_input_names(conf["model"]))
    sets = [EmotionDataset(root / "data" / p, label_map, inputs) for p in ("train", "valid")]
    model = build_model(conf["model"], 4, {k: s.info for k, s in inputs.items()})
    Trainer(conf, tmp_path / "exp", model, *sets, LABELS, init_distributed("cpu")).fit()
    p = predict(model, EmotionDataset(root / "data/test", label_map, inputs, training=False), torch.device("cpu"), 8)
    assert p["logits"].shape == (8, 4) and p["embeddings"].shape[0] == 8
