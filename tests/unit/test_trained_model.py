"""One loader for a trained model (mer.trained_model): an experiment dir, on the recipe's dumps or
on the records a pack would hold, and a pack give the same model; errors name the file."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mer.inference import predict
from mer.inputs import EmotionDataset, LabelMap, open_inputs
from mer.models import build_model, model_input_names
from mer.packing import bundle_from_exp, write_archive
from mer.trained_model import load_trained_model
from tests.helpers.training import LABELS, tiny_experiment


def _weights(conf: dict, infos: dict, seed: int) -> dict:
    torch.manual_seed(seed)
    return build_model(conf["model"], len(LABELS), infos).state_dict()


@pytest.fixture(scope="module")
def exp(tmp_path_factory) -> dict:
    """A corpus with dumps (their settings recorded, as mer.bin.dump_feats records them) and a fold
    dir holding a model's config, classes, best.pt (epoch 3) and checkpoint.pt (epoch 4, other weights)."""
    root, fold, conf = tiny_experiment(tmp_path_factory.mktemp("loader"), aggregation="min")
    infos = {k: s.info for k, s in open_inputs(conf, root / "dump", model_input_names(conf["model"])).items()}
    best, last = _weights(conf, infos, 1), _weights(conf, infos, 2)
    torch.save({"epoch": 3, "model": best, "metric": "ua", "value": 0.5}, fold / "best.pt")
    torch.save({"epoch": 4, "model": last}, fold / "checkpoint.pt")
    return {"root": root, "fold": fold, "conf": conf, "infos": infos, "best": best, "last": last}


def _posteriors(trained, root: Path) -> torch.Tensor:
    sources = trained.sources or open_inputs(trained.conf, root / "dump", trained.input_names)
    data = EmotionDataset(root / "data" / "test", trained.label_map, sources, training=False)
    return trained.predict(data, torch.device("cpu"), 4)["posteriors"]


def _expected(exp: dict, weights: dict) -> torch.Tensor:
    model = build_model(exp["conf"]["model"], len(LABELS), exp["infos"])
    model.load_state_dict(weights)
    sources = open_inputs(exp["conf"], exp["root"] / "dump", ("audio", "text"))
    data = EmotionDataset(exp["root"] / "data" / "test", LabelMap(None, LABELS), sources, training=False)
    return predict(model, data, torch.device("cpu"), 4)["posteriors"]


def test_an_experiment_dir_on_its_dumps(exp):
    trained = load_trained_model(exp["fold"], dumpdir=exp["root"] / "dump", from_dumps=True)
    assert trained.classes == LABELS and trained.epoch == 3
    assert trained.checkpoint == str(exp["fold"] / "best.pt")
    assert sorted(trained.sources) == ["audio", "text"] and trained.inputs is None
    assert torch.equal(_posteriors(trained, exp["root"]), _expected(exp, exp["best"]))
    last = load_trained_model(exp["fold"], checkpoint="last", dumpdir=exp["root"] / "dump", from_dumps=True)
    assert last.epoch == 4 and torch.equal(_posteriors(last, exp["root"]), _expected(exp, exp["last"]))
    assert not torch.equal(_expected(exp, exp["best"]), _expected(exp, exp["last"]))


def test_the_decode_meta_comes_from_the_model(exp):
    trained = load_trained_model(exp["fold"], dumpdir=exp["root"] / "dump", from_dumps=True)
    meta = trained.decode_meta()
    assert meta == {"system": "memocmt", "aggregation": "min", "modalities": "audio+text",
                    "model": trained.model.description()}
    assert meta["model"]["aggregation"] == "min" and "layer_weights" in meta["model"]  # the dumps' layer mixes


def test_a_pack_and_its_experiment_dir_give_the_same_model(exp, tmp_path):
    pack = write_archive(bundle_from_exp(exp["fold"], dumpdir=exp["root"] / "dump"), tmp_path / "m.tar.gz")
    expected = _expected(exp, exp["best"])
    for trained in (load_trained_model(pack), load_trained_model(exp["fold"], dumpdir=exp["root"] / "dump"),
                    load_trained_model(pack, dumpdir=exp["root"] / "dump", from_dumps=True)):
        assert trained.epoch == 3 and trained.classes == LABELS
        assert torch.equal(_posteriors(trained, exp["root"]), expected)
    records = load_trained_model(pack).inputs
    assert records["audio"]["kind"] == "audio" and records["text"]["kind"] == "text"


def test_what_cannot_be_loaded_is_named(exp, tmp_path):
    pack = write_archive(bundle_from_exp(exp["fold"], dumpdir=exp["root"] / "dump"), tmp_path / "m.tar.gz")
    with pytest.raises(ValueError, match="best checkpoint only"):
        load_trained_model(pack, checkpoint="last", from_dumps=True, dumpdir=exp["root"] / "dump")
    with pytest.raises(ValueError, match="need the recipe's dumps"):
        load_trained_model(pack, overrides=["inputs.text={type: text}"])
    with pytest.raises(ValueError, match="checkpoint must be one of best, last"):
        load_trained_model(exp["fold"], checkpoint="epoch3", from_dumps=True)
    broken = tmp_path / "fold1"
    broken.mkdir()
    for name in ("config.yaml", "classes"):
        (broken / name).write_bytes((exp["fold"] / name).read_bytes())
    (broken / "best.pt").write_bytes((exp["fold"] / "best.pt").read_bytes()[:100])  # truncated
    with pytest.raises(FileNotFoundError, match=r"fold1/checkpoint.pt not found: train first"):
        load_trained_model(broken, checkpoint="last", from_dumps=True, dumpdir=exp["root"] / "dump")
    with pytest.raises(ValueError, match=r"fold1/best.pt: cannot be read"):
        load_trained_model(broken, from_dumps=True, dumpdir=exp["root"] / "dump")
