"""Feature extractors by name, as `dump_feats --feature TYPE` knows them: a registry of builders.

Each module of this package registers the feature types it implements with
`register_feature(name, builder, description=...)`; a builder takes the dump options as keywords
(`model`, `layers`, `device`, `num_mel_bins`, `whisper_input_seconds`, `clean_text`), uses those it
needs and returns an extractor. A new feature type is one new module here
(`python -m mer.bin.list feature` prints them all).
"""
from __future__ import annotations

from typing import Callable

from mer.registry import new_registry

FEATURES = new_registry("feature", package="mer.features")


def register_feature(name: str, builder: Callable, *, description: str) -> Callable:
    """Make `dump_feats --feature NAME` (and a feats.yaml `feature: NAME`) build `builder(**options)`."""
    return FEATURES.register(name, builder, description=description)


def feature_types() -> tuple[str, ...]:
    """Every registered feature type (besides `asr`, a transcription dump made by mer.asr)."""
    return tuple(FEATURES)


def needs_model(feature: str, model: str | None) -> str:
    if not model:
        raise ValueError(f"--feature {feature} needs --model (a hub id or a local directory)")
    return model


# Whisper's input window: a number of seconds (30, the default, is the window Whisper was trained
# on: every utterance padded to it), or this name: the utterance's own length.
WHISPER_UTTERANCE = "utterance"


def parse_whisper_window(value) -> float | str:
    """`utterance`, or a positive number of seconds ("30", "30s", 30) as a float."""
    text = str(value).strip().lower()
    if text == WHISPER_UTTERANCE:
        return WHISPER_UTTERANCE
    try:
        seconds = float(text[:-1] if text.endswith("s") else text)
    except ValueError:
        seconds = float("nan")
    if isinstance(value, bool):  # YAML's yes/no
        seconds = float("nan")
    if not seconds > 0:
        raise ValueError(f"Whisper input window {value!r}: expected '{WHISPER_UTTERANCE}' or a "
                         f"positive number of seconds (30 = Whisper's own window)")
    return seconds


def build_extractor(feature: str, model: str | None = None, layers: str = "last", device: str = "auto",
                    num_mel_bins: int = 80, whisper_input_seconds: float | str = 30.0, clean_text: bool = False):
    builder = FEATURES.get_entry(feature, "feature type")
    return builder(model=model, layers=layers, device=device, num_mel_bins=num_mel_bins,
                   whisper_input_seconds=whisper_input_seconds, clean_text=clean_text)


def build_extractor_from_settings(settings: dict, device: str = "auto"):
    """The extractor a dump was made with, from the settings it recorded (`read_dump_settings`):
    the same code as `dump_feats`, so features computed later equal the dump's."""
    import inspect

    known = set(inspect.signature(build_extractor).parameters) - {"device"}
    return build_extractor(device=device, **{k: v for k, v in settings.items() if k in known})


def read_dump_settings(dump_dir) -> dict:
    """The dump_feats options a dump was made with: feats_info.json's `settings`, or for dumps made
    before it was recorded, the job stamp `split<nj>/options.json`."""
    import json
    from pathlib import Path

    dump_dir = Path(dump_dir)
    info = json.loads((dump_dir / "feats_info.json").read_text())
    if "settings" in info:
        return dict(info["settings"])
    stamp = dump_dir / f"split{info.get('nj', 1)}" / "options.json"
    if not stamp.is_file():
        raise ValueError(f"{dump_dir}: neither feats_info.json nor {stamp.name} records the settings the "
                         f"dump was made with; dump it again with mer.bin.dump_feats")
    return {k: v for k, v in json.loads(stamp.read_text()).items() if k != "data_dir"}
