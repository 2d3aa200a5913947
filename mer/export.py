"""ONNX export of a trained model's classifier over dumped features, checked with onnxruntime.

    onnx_path, meta = export_onnx(load_trained_model("model.tar.gz"), "model.onnx")

The exported graph takes, per input the model reads (in `input_names` order), its frames and their
lengths: `NAME` (B, T, D), or (B, T, L, D) for a dump of L layers side by side, float32, zero padded
after each utterance's T_i frames, and `NAME_lengths` (B,) int64. It returns `posteriors` (B, C), in
the order of `classes`, and `embedding` (B, E) where the model gives one. `OUT.json` beside the
.onnx says all of this with the pack's feature settings, so a user knows what features to compute.

Only dumped-feature inputs export: a raw text or waveform input is tokenised or turned into log-mel
frames inside the model, in Python, which has no ONNX graph (`--with-encoders` is not supported yet).
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mer.models.cnn_attn import DialogueGRU
from mer.onnx_trace import ExportError, attention_traceable
from mer.trained_model import input_info
from mer.utils.fileio import atomic_open, write_json_atomic

OPSET = 17          # LayerNorm is one op from 17 on; onnxruntime >= 1.14 runs it
TOLERANCE = 1e-4    # max abs difference of posteriors, onnxruntime vs PyTorch


@dataclass(frozen=True)
class FeatureInput:
    name: str
    dim: int          # per layer
    num_layers: int   # layers stored side by side in the dump (> 1: a (B, T, L, D) input)

    @property
    def shape(self) -> list:
        frames = f"frames_{self.name}"
        return ["batch", frames, self.num_layers, self.dim] if self.num_layers > 1 else ["batch", frames, self.dim]


def require_onnx() -> None:
    """Fail with the install command when onnx or onnxruntime is missing."""
    missing = []
    for module in ("onnx", "onnxruntime"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ExportError(f"ONNX export needs {' and '.join(missing)}: pip install onnx onnxruntime "
                          f"(or tools/install.sh --test)")


def feature_inputs(trained) -> list[FeatureInput]:
    """The model's inputs as exported tensors; a model that cannot export is refused, saying why."""
    out = []
    for name in trained.input_names:
        info = model_input_info(trained, name)
        if info.type != "dump":
            raise ExportError(f"input '{name}' is raw {info.type}, read by a transformers encoder inside the "
                              f"model (tokeniser / feature extractor in Python): exporting it needs "
                              f"--with-encoders, which is not supported yet; train on a dump of that "
                              f"encoder's features to export the classifier")
        out.append(FeatureInput(name, int(info.dim), int(info.num_layers)))
    if any(isinstance(m, DialogueGRU) for m in trained.model.modules()):
        raise ExportError(f"{trained.conf['model']['name']} with a dialogue context (model.context: "
                          f"{trained.conf['model'].get('context', 'bidirectional')}) runs a GRU over the turns of "
                          f"each dialogue, split by dialog_lengths in Python: not exportable; context: none exports")
    return out


def model_input_info(trained, name: str):
    """The InputInfo the model was built with: from the pack's record or the opened dump."""
    if trained.inputs is not None:
        return input_info(trained.inputs[name])
    return trained.sources[name].info


def one_utterance_reason(model: nn.Module) -> str | None:
    """Why the graph takes one utterance a run (batch 1), or None when any batch size works."""
    if getattr(model, "padding_sensitive", False):
        return "the model has no padding masks (padding changes its outputs), so it runs unbatched"
    return None


class PosteriorGraph(nn.Module):
    """The model with positional tensors in and posteriors (and its embedding) out."""

    def __init__(self, model: nn.Module, inputs: list[FeatureInput]):
        super().__init__()
        self.model, self.inputs = model, inputs

    def forward(self, *tensors: torch.Tensor):
        batch = {}
        for i, spec in enumerate(self.inputs):
            x = tensors[2 * i]
            batch[spec.name] = x.flatten(2) if spec.num_layers > 1 else x  # as the dump stores it
            batch[f"{spec.name}_lengths"] = tensors[2 * i + 1]
        out = self.model(batch)
        posteriors = torch.softmax(out.logits.float(), dim=-1)
        return posteriors if out.embedding is None else (posteriors, out.embedding.float())


def random_inputs(inputs: list[FeatureInput], lengths: list[int], seed: int = 0) -> list[torch.Tensor]:
    """Random frames of the right shapes, padded with zeros after each utterance's length."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for spec in inputs:
        shape = spec.shape
        size = [len(lengths), max(lengths)] + [s for s in shape[2:]]
        x = torch.randn(*size, generator=g)
        for b, n in enumerate(lengths):
            x[b, n:] = 0
        out += [x, torch.tensor(lengths, dtype=torch.long)]
    return out


def dataset_examples(trained, data_dir: str | Path, dumpdir: str | Path, batch_size: int = 8) -> list[list[torch.Tensor]]:
    """The utterances of a data dir, their features read from a recipe's dumps as the model was
    trained on them (the config's inputs, CMVN included), in batches of the graph's tensors."""
    from mer.inputs import EmotionDataset, collate, open_inputs

    sources = open_inputs(trained.conf, dumpdir, trained.input_names)
    data = EmotionDataset(data_dir, trained.label_map, sources, training=False)
    inputs = feature_inputs(trained)
    size = 1 if one_utterance_reason(trained.model) else batch_size
    return [batch_inputs(collate([data[i] for i in range(start, min(start + size, len(data)))]), inputs)
            for start in range(0, len(data), size)]


def batch_inputs(batch: dict, inputs: list[FeatureInput]) -> list[torch.Tensor]:
    """A collated batch of the recipe's dumps (mer.inputs.collate) as the graph's tensors."""
    out = []
    for spec in inputs:
        x = batch[spec.name].float()
        if spec.num_layers > 1:
            x = x.view(*x.shape[:2], spec.num_layers, spec.dim)
        out += [x, batch[f"{spec.name}_lengths"].long()]
    return out


def input_names(inputs: list[FeatureInput]) -> list[str]:
    return [n for spec in inputs for n in (spec.name, f"{spec.name}_lengths")]


def _dynamic_axes(inputs: list[FeatureInput], outputs: list[str], batch_fixed) -> dict:
    axes = {}
    for spec in inputs:
        axes[spec.name] = {1: f"frames_{spec.name}"} if batch_fixed else {0: "batch", 1: f"frames_{spec.name}"}
        if not batch_fixed:
            axes[f"{spec.name}_lengths"] = {0: "batch"}
    if not batch_fixed:
        axes.update({o: {0: "batch"} for o in outputs})
    return axes


def graph_input_names(onnx_bytes: bytes) -> set[str]:
    """The inputs the exported graph kept (a length the model never reads is left out)."""
    import onnx

    return {i.name for i in onnx.load_from_string(onnx_bytes).graph.input}


def run_onnx(onnx_bytes: bytes, tensors: list[torch.Tensor], names: list[str]) -> list[np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    graph_inputs = {i.name for i in session.get_inputs()}  # an unused length is left out of the graph
    return session.run(None, {n: t.numpy() for n, t in zip(names, tensors) if n in graph_inputs})


def max_difference(graph: PosteriorGraph, onnx_bytes: bytes, examples: list[list[torch.Tensor]],
                   names: list[str]) -> float:
    """The largest |posterior difference| of onnxruntime and PyTorch over the example batches."""
    worst = 0.0
    for tensors in examples:
        with torch.no_grad():
            expected = graph(*tensors)
        expected = expected[0] if isinstance(expected, tuple) else expected
        got = run_onnx(onnx_bytes, tensors, names)[0]
        worst = max(worst, float(np.abs(got - expected.numpy()).max()))
    return worst


def export_onnx(trained, out: str | Path, examples: list[list[torch.Tensor]] | None = None,
                opset: int = OPSET) -> tuple[Path, dict]:
    """Export `trained` (mer.trained_model.TrainedModel) to `out` (.onnx) and `out`.json, after
    checking onnxruntime against PyTorch on `examples` (lists of graph tensors; default: random
    batches of varied sizes and lengths). Raises ExportError, writing nothing, on a refusal or a
    difference over TOLERANCE."""
    require_onnx()
    out = Path(out)
    inputs = feature_inputs(trained)
    model = trained.model.eval()
    graph = PosteriorGraph(model, inputs).eval()
    single = one_utterance_reason(model)
    sample = random_inputs(inputs, [7] if single else [9, 6], seed=1)
    with torch.no_grad():
        probe = graph(*sample)
    outputs = ["posteriors", "embedding"] if isinstance(probe, tuple) else ["posteriors"]
    names = input_names(inputs)
    buffer = io.BytesIO()
    try:
        with attention_traceable(model), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer and exporter notes on shapes: the check below decides
            torch.onnx.export(graph, tuple(sample), buffer, input_names=names, output_names=outputs,
                              dynamic_axes=_dynamic_axes(inputs, outputs, single), opset_version=opset,
                              dynamo=False)  # the dynamo exporter (torch.export) fails on the models' masks
    except Exception as e:  # the exporter's own message says which op
        raise ExportError(f"{trained.conf['model']['name']}: torch.onnx.export failed: {e}") from e
    onnx_bytes = buffer.getvalue()
    if examples is None:  # other batch sizes and lengths than the traced example's
        examples = [random_inputs(inputs, lens, seed=i) for i, lens in enumerate(
            ([3], [12], [20]) if single else ([4], [12, 3, 8], [20, 5, 11, 2, 17]))]
    try:
        diff = max_difference(graph, onnx_bytes, examples, names)
    except Exception as e:  # onnxruntime fails on a shape the trace froze
        raise ExportError(f"{trained.conf['model']['name']}: the exported graph fails in onnxruntime on "
                          f"other batch sizes or lengths than the export example: {e}") from e
    if not diff <= TOLERANCE:
        raise ExportError(f"{trained.conf['model']['name']}: onnxruntime and PyTorch posteriors differ by "
                          f"{diff:.3g} > {TOLERANCE:g}; {out} not written")
    meta = describe(trained, inputs, graph_input_names(onnx_bytes), outputs, opset, single)
    meta["check"] = {"max_abs_diff": diff, "tolerance": TOLERANCE, "batches": len(examples),
                     "utterances": sum(int(t[1].shape[0]) for t in examples)}
    with atomic_open(out, "wb") as f:
        f.write(onnx_bytes)
    write_json_atomic(out.with_suffix(".json"), meta)
    return out, meta


def describe(trained, inputs: list[FeatureInput], kept: set[str], outputs: list[str], opset: int,
             single: str | None) -> dict:
    """What a user of the .onnx needs: tensors in and out, classes, and how each input's features
    were computed (the pack's records)."""
    records = trained.inputs or {}
    tensors = []
    for spec in inputs:
        shape = spec.shape if not single else [1] + spec.shape[1:]
        tensors.append({"name": spec.name, "shape": shape, "dtype": "float32",
                        "layout": "zero padded after each utterance's frames"
                                  + ("; layers of the dump side by side as (L, D)" if spec.num_layers > 1 else ""),
                        "features": {k: records.get(spec.name, {}).get(k) for k in ("kind", "features", "spec")}})
        tensors.append({"name": f"{spec.name}_lengths", "shape": ["batch" if not single else 1], "dtype": "int64",
                        "layout": f"the number of real frames of each utterance in {spec.name}"})
    tensors = [t for t in tensors if t["name"] in kept]
    return {"system": trained.conf["model"]["name"], "opset": opset, "inputs": tensors,
            "outputs": [{"name": o, "shape": [1 if single else "batch", "classes" if o == "posteriors" else "dim"],
                         "dtype": "float32"} for o in outputs],
            "classes": list(trained.classes), "one_utterance_per_run": single is not None, "why_one_utterance": single,
            "model": trained.model.describe(), "source": trained.checkpoint}
