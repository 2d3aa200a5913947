"""ONNX export (mer.export, mer.bin.export): every registered system over dumped features exports,
and onnxruntime gives PyTorch's posteriors on other batch sizes and lengths than the traced
example; the JSON beside it describes the graph; what does not export is refused, saying why."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mer.bin import export as export_cli
from mer.export import ExportError, export_onnx, require_onnx
from mer.inputs import LabelMap
from mer.models import MODEL_CLASSES, build_model
from mer.packing import bundle_from_exp, write_archive
from mer.trained_model import TrainedModel, input_info
from tests.helpers.training import LABELS, tiny_experiment

ort = pytest.importorskip("onnxruntime")


def dump(dim: int, layers: int = 1, kind: str = "audio") -> dict:
    """A pack's record of a dumped input (mer.packing.describe_inputs)."""
    return {"spec": {"type": "dump", "name": f"{kind}_feats"}, "kind": kind,
            "features": {"feature": "fbank" if kind == "audio" else "hf-text"},
            "feats_info": {"dim": dim, "num_layers_stored": layers}}


# Tiny configs of every registered system (and the variants that take other code paths).
SYSTEMS = {
    "memocmt": ({"name": "memocmt", "dim": 16, "num_heads": 2, "ffn_dim": 32, "head_hidden": 16},
                {"audio": dump(8, 3), "text": dump(12, 1, "text")}),
    "memocmt_faithful": ({"name": "memocmt", "variant": "faithful", "aggregation": "mean", "dim": 16,
                          "num_heads": 2, "ffn_dim": 32, "head_hidden": 16},
                         {"audio": dump(8, 3), "text": dump(12, 1, "text")}),
    "audio_only": ({"name": "audio_only", "aggregation": "mean+std", "head_hidden": 8}, {"audio": dump(8, 2)}),
    "text_only": ({"name": "text_only", "aggregation": "cls", "head_hidden": 8}, {"text": dump(8, 1, "text")}),
    "lstm_fc": ({"name": "lstm_fc", "lstm_hidden": 8, "lstm_layers": 2, "fc_hidden": 8, "frame_stride": 2},
                {"audio": dump(8, 2)}),
    "lstm_fc_utterance_means": ({"name": "lstm_fc", "inputs": ["audio", "text"], "frames": "mean",
                                 "summary": "mean", "lstm_hidden": 8, "fc_hidden": 8},
                                {"audio": dump(8), "text": dump(6, 1, "text")}),
    "cnn_attn": ({"name": "cnn_attn", "context": "none", "fusion_dim": 8, "text_dim": 8,
                  "cnn_channels": [4, 4, 4, 4], "parallel_channels": 2, "frame_pool": 2},
                 {"speech": dump(20), "text": dump(6, 1, "text")}),
    "mf_la": ({"name": "mf_la", "dim": 8, "num_heads": 2, "ffn_dim": 16, "frame_pool": 2},
              {"speech": dump(8, 3), "text": dump(6, 2, "text"), "context": dump(8, 2)}),
}


def trained_model(conf: dict, records: dict, seed: int = 0) -> TrainedModel:
    torch.manual_seed(seed)
    model = build_model(conf, len(LABELS), {k: input_info(r) for k, r in records.items()})
    for p in model.parameters():  # away from the initialisation (LayerMix weights start at zero)
        p.data += 0.1 * torch.randn_like(p)
    return TrainedModel(model=model.eval(), conf={"model": conf}, label_map=LabelMap(None, LABELS),
                        checkpoint="random weights", epoch=None, inputs=records)


def frames(records: dict, lengths: list[int], seed: int) -> dict:
    """A padded batch as mer.inputs.collate gives it (layers side by side, zeros after each length)."""
    g = torch.Generator().manual_seed(seed)
    batch = {}
    for name, rec in records.items():
        fi = rec["feats_info"]
        x = torch.randn(len(lengths), max(lengths), fi["dim"] * fi["num_layers_stored"], generator=g)
        for b, n in enumerate(lengths):
            x[b, n:] = 0
        batch[name], batch[f"{name}_lengths"] = x, torch.tensor(lengths)
    return batch


def onnx_feed(meta: dict, batch: dict) -> dict:
    """The batch as the JSON says the graph takes it."""
    feed = {}
    for t in meta["inputs"]:
        x = batch[t["name"]]
        feed[t["name"]] = (x.view(*x.shape[:2], *t["shape"][2:]).numpy() if t["dtype"] == "float32"
                           else x.numpy().astype(np.int64))
    return feed


def test_every_registered_system_is_covered():
    assert {conf["name"] for conf, _ in SYSTEMS.values()} == set(MODEL_CLASSES)


@pytest.mark.parametrize("system", list(SYSTEMS))
def test_exported_posteriors_equal_pytorch_on_other_batches(system, tmp_path):
    conf, records = SYSTEMS[system]
    trained = trained_model(conf, records)
    out, meta = export_onnx(trained, tmp_path / "m.onnx")
    assert meta["check"]["max_abs_diff"] <= 1e-4
    assert json.loads((tmp_path / "m.json").read_text()) == meta
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    single = meta["one_utterance_per_run"]
    batches = [[5], [31]] if single else [[5, 13, 2], [31], [6, 6, 17, 3, 9, 1]]
    for seed, lengths in enumerate(batches):
        batch = frames(records, lengths, seed=100 + seed)
        with torch.no_grad():
            want = torch.softmax(trained.model(batch).logits, -1).numpy()
        got = session.run(["posteriors"], onnx_feed(meta, batch))[0]
        assert got.shape == (len(lengths), len(LABELS))
        assert np.abs(got - want).max() <= 1e-4, (system, lengths)


def test_the_json_says_what_the_graph_takes(tmp_path):
    conf, records = SYSTEMS["memocmt"]
    _, meta = export_onnx(trained_model(conf, records), tmp_path / "m.onnx")
    assert [t["name"] for t in meta["inputs"]] == ["audio", "audio_lengths", "text", "text_lengths"]
    audio, lengths, text = meta["inputs"][:3]
    assert audio["shape"] == ["batch", "frames_audio", 3, 8] and audio["dtype"] == "float32"
    assert text["shape"] == ["batch", "frames_text", 12]
    assert lengths == {**lengths, "shape": ["batch"], "dtype": "int64"}
    assert audio["features"]["features"] == {"feature": "fbank"} and text["features"]["kind"] == "text"
    assert [o["name"] for o in meta["outputs"]] == ["posteriors", "embedding"]
    assert meta["classes"] == LABELS and meta["system"] == "memocmt" and meta["opset"] == 17
    assert meta["one_utterance_per_run"] is False
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    graph = {i.name: i.shape for i in session.get_inputs()}
    assert graph == {t["name"]: t["shape"] for t in meta["inputs"]}


def test_unbatched_and_length_free_graphs_are_described(tmp_path):
    conf, records = SYSTEMS["memocmt_faithful"]
    _, meta = export_onnx(trained_model(conf, records), tmp_path / "f.onnx")
    assert meta["one_utterance_per_run"] is True and "padding" in meta["why_one_utterance"]
    # no masks: the lengths are not inputs of the graph
    assert [t["name"] for t in meta["inputs"]] == ["audio", "text"]
    assert meta["inputs"][0]["shape"] == [1, "frames_audio", 3, 8]
    conf, records = SYSTEMS["text_only"]
    _, meta = export_onnx(trained_model(conf, records), tmp_path / "t.onnx")
    assert [t["name"] for t in meta["inputs"]] == ["text"]  # cls pooling reads no length


def test_a_dialogue_context_is_refused_and_nothing_written(tmp_path):
    conf, records = SYSTEMS["cnn_attn"]
    with pytest.raises(ExportError, match="dialogue context .*bidirectional.*context: none exports"):
        export_onnx(trained_model({**conf, "context": "bidirectional"}, records), tmp_path / "c.onnx")
    assert list(tmp_path.iterdir()) == []


def test_an_encoder_inside_the_model_is_refused_and_nothing_written(tmp_path, tiny_bert):
    raw = {"name": "text_only", "aggregation": "mean", "head_hidden": 8,
           "encoders": {"text": {"model": str(tiny_bert), "finetune": False}}}
    with pytest.raises(ExportError, match="input 'text' is raw text.*--with-encoders, which is not supported yet"):
        export_onnx(trained_model(raw, {"text": {"spec": {"type": "text"}, "kind": "text"}}), tmp_path / "t.onnx")
    assert list(tmp_path.iterdir()) == []


def test_missing_onnxruntime_is_named(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)  # import raises ImportError
    with pytest.raises(ExportError, match="needs onnxruntime: pip install onnx onnxruntime"):
        require_onnx()


@pytest.fixture(scope="module")
def pack(tmp_path_factory) -> dict:
    """A packed tiny MemoCMT of a dumped corpus (as tests/unit/test_trained_model.py packs one)."""
    root, fold, conf = tiny_experiment(tmp_path_factory.mktemp("export"), aggregation="max")
    records = {"audio": dump(16, 2), "text": dump(12, 1, "text")}
    state = trained_model(conf["model"], records, seed=3).model.state_dict()
    torch.save({"epoch": 2, "model": state}, fold / "best.pt")
    return {"root": root, "pack": write_archive(bundle_from_exp(fold, dumpdir=root / "dump"), root / "m.tar.gz")}


def test_cli_checks_on_a_data_dir_and_refuses_encoders(pack, tmp_path, capsys):
    root, out = pack["root"], tmp_path / "model.onnx"
    assert export_cli.main(["--data-dir", str(root / "data/test"), "--dumpdir", str(root / "dump"),
                            "--batch-size", "3", str(pack["pack"]), str(out)]) == 0
    err = capsys.readouterr().err
    assert "max abs diff" in err and "over 4 utterances in 2 batches (data dir" in err
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["check"]["utterances"] == 4 and meta["inputs"][0]["features"]["spec"]["type"] == "dump"
    assert export_cli.main(["--with-encoders", str(pack["pack"]), str(tmp_path / "e.onnx")]) == 2
    assert "--with-encoders is not supported yet" in capsys.readouterr().err
    assert export_cli.main([str(root / "missing.tar.gz"), str(tmp_path / "x.onnx")]) == 2
    assert "missing.tar.gz" in capsys.readouterr().err
    assert not (tmp_path / "e.onnx").exists() and not (tmp_path / "x.onnx").exists()
