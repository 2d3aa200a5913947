"""A trained model, loaded from an experiment dir or a packed archive: the one loader that
`mer.bin.infer` and `mer.recognizer` run models through.

    trained = load_trained_model("exp/loso/train_memocmt_min/fold1")      # or "model.tar.gz"
    trained.model, trained.conf, trained.label_map, trained.inputs

The model is built on what its inputs are, in one of two ways: from the dumps of the recipe it was
trained in (`from_dumps=True`: `trained.sources` reads them, as `mer.bin.infer` does), or from the
records that a pack holds (`inputs.json`; for an experiment dir, described from its dumps as
`mer.bin.pack` would: `mer.packing.describe_inputs`), which `mer.recognizer` computes from audio.
Weights are read with `weights_only=True`; a pack is read without extracting it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mer.data.audio import TARGET_SR
from mer.inference import amp_dtype, predict
from mer.inputs import InputInfo, LabelMap, open_inputs
from mer.models import AbsEmotionModel, build_model, model_input_names
from mer.packing import Bundle, find_fold_dir, load_bundle, read_trained_fold
from mer.train.config import apply_overrides

CHECKPOINTS = {"best": "best.pt", "last": "checkpoint.pt"}


@dataclass
class TrainedModel:
    model: AbsEmotionModel          # on CPU, its weights loaded
    conf: dict                      # the resolved training config (with any input overrides)
    label_map: LabelMap             # the config's label map onto the trained classes
    checkpoint: str                 # where the weights came from
    epoch: int | None               # the epoch they are of
    inputs: dict[str, dict] | None = None  # input name -> pack record (mer.packing.describe_inputs)
    sources: dict | None = None     # input name -> an opened input of the recipe's dumps

    @property
    def classes(self) -> list[str]:
        return self.label_map.classes

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(type(self.model).input_names(self.conf["model"]))

    def amp(self, device):
        return amp_dtype(self.conf["train"]["amp"], device)

    def predict(self, dataset, device, batch_size: int) -> dict:
        """`mer.inference.predict` in the precision the config asks for on `device`."""
        return predict(self.model, dataset, device, batch_size, self.amp(device))

    def decode_meta(self) -> dict:
        """What a decode dir records of the system, from the model's own description."""
        description = self.model.description()
        return {"system": self.conf["model"]["name"],
                "aggregation": description.get("aggregation"),  # how a system pools over time, where it says
                "modalities": "+".join(self.input_names), "model": description}


def input_info(record: dict) -> InputInfo:
    """The InputInfo the model was built with in training, from a pack's input record."""
    spec = record["spec"]
    if spec["type"] == "dump":
        fi = record["feats_info"]
        return InputInfo("dump", dim=int(fi["dim"]), num_layers=int(fi.get("num_layers_stored", 1)))
    if spec["type"] == "waveform":
        return InputInfo("waveform", sample_rate=int(spec.get("sample_rate") or TARGET_SR))
    return InputInfo("text")


def load_trained_model(path: str | Path, *, fold: int | None = None, checkpoint: str = "best",
                       overrides: list[str] = (), dumpdir: str | Path | None = None,
                       from_dumps: bool = False) -> TrainedModel:
    """A pack (a file) or an experiment dir (a fold dir, or a config dir with one fold or `fold`).

    from_dumps: build the model on its inputs opened from `dumpdir` (the recipe's dumps, default
                `dump`), kept in `sources`; else on the pack's input records (an experiment dir's
                described from its dumps, found as mer.bin.pack finds them), kept in `inputs`.
    checkpoint: best | last (an experiment dir's `checkpoint.pt`), with from_dumps.
    overrides:  `inputs.NAME=VALUE` items replacing inputs of the trained config, with from_dumps.
    """
    path = Path(path)
    if from_dumps:
        conf, classes, state, source = _read(path, fold, checkpoint, overrides)
        sources = open_inputs(conf, dumpdir if dumpdir is not None else "dump", model_input_names(conf["model"]))
        return _built(conf, classes, state, source, {k: s.info for k, s in sources.items()}, sources=sources)
    if checkpoint != "best" or overrides:
        raise ValueError(f"{path}: another checkpoint or other inputs than a pack holds need the recipe's dumps "
                         f"(from_dumps=True)")
    return from_bundle(load_bundle(path, fold, dumpdir), str(path))


def from_bundle(bundle: Bundle, source: str = "the bundle given") -> TrainedModel:
    """The model of a bundle (mer.packing: a pack read, or an experiment described), built on its
    input records."""
    return _built(bundle.conf, bundle.classes, bundle.state, source,
                  {k: input_info(r) for k, r in bundle.inputs.items()}, inputs=bundle.inputs)


def _read(path: Path, fold, checkpoint: str, overrides) -> tuple[dict, list[str], dict, str]:
    """Config (with the overrides), classes, checkpoint and its path, of a pack or an experiment dir."""
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"checkpoint must be one of {', '.join(CHECKPOINTS)}, got '{checkpoint}'")
    if not path.is_dir():
        if checkpoint != "best":
            raise ValueError(f"{path}: a pack holds the best checkpoint only, not '{checkpoint}'")
        bundle = load_bundle(path)
        return apply_overrides(bundle.conf, list(overrides)), bundle.classes, bundle.state, str(path)
    fold_dir = find_fold_dir(path, fold)
    ckpt = fold_dir / CHECKPOINTS[checkpoint]
    if not ckpt.is_file():
        raise FileNotFoundError(f"{ckpt} not found: train first (stage 3)")
    conf, classes, state = read_trained_fold(fold_dir, CHECKPOINTS[checkpoint], overrides)
    return conf, classes, state, str(ckpt)


def _built(conf: dict, classes: list[str], state: dict, source: str, infos: dict, **where) -> TrainedModel:
    label_map = LabelMap({"map": conf["labels"].get("map"), "classes": classes}, [])
    model = build_model(conf["model"], len(classes), infos)
    model.load_state_dict(state["model"])
    return TrainedModel(model=model, conf=conf, label_map=label_map, checkpoint=source, epoch=state.get("epoch"),
                        **where)
