"""Training configs: YAML with every knob named, command-line overrides, derived experiment tags.

A config file names only what differs from DEFAULTS; the resolved config (defaults + file +
overrides) is saved into the experiment dir and is what inference reads back.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml

DEFAULTS: dict = {
    "model": {"name": "memocmt"},
    # The named inputs the model reads (mer.inputs): a dump name, or
    # {type: dump|waveform|text, ...}. Inference may override them (test on ASR text, say).
    "inputs": {},
    # Label map and output classes (mer.inputs.labels); default: the data's label set as it is.
    # unknown: error | drop, for a label outside the recipe's label set (mer.train.label_check).
    "labels": {"map": None, "classes": None, "unknown": "error"},
    "optim": {"name": "adam", "lr": 1.0e-4, "betas": [0.9, 0.999], "eps": 1.0e-8, "weight_decay": 0.0,
              "encoder_lr": None,          # learning rate of encoders trained in the model (None: lr)
              "encoder_freeze_steps": 0},  # keep those encoders fixed for the first N optimiser steps
    # steplr | cosine | none, per epoch (cosine: from lr down to 0 over train.epochs);
    # time_decay, per optimiser step k: lr / (1 + decay * k) (Keras' time-based decay);
    # warmup_steps: linear warm-up over the first optimiser steps.
    "scheduler": {"name": "steplr", "step_size": 30, "gamma": 0.1, "warmup_steps": 0, "decay": 0.0},
    "train": {
        "epochs": 100,
        "unit": "utterance",          # utterance | dialogue: what one sample of a batch is
        "batch_size": 1,              # samples per global batch, across all processes
        "batch_counts": "samples",    # samples | utterances: what batch_size counts (utterances with
                                      # unit dialogue: whole dialogues up to batch_size utterances)
        "accum_grad": 1,              # batches per optimiser step
        "bucketing": False,           # length-sorted batches (padding masks handle the rest)
        "max_frames": None,           # cap on batch_size x longest sequence
        "grad_clip": None,            # max gradient norm
        "early_stopping_patience": None,  # epochs without improvement of best_metric
        "best_metric": "wa",          # a metric (python -m mer.bin.list metric) | loss (validation) | last
                                      # (last: the last epoch's model, no choice on validation)
        "fit_on": "train",            # train | train+valid (the valid set trains too; needs
                                      # best_metric: last, as nothing is left to choose on)
        "seed": 0,
        "amp": "auto",                # auto (bf16/fp16 on GPU, off on CPU) | true | false
        "num_workers": 0,
        "keep_epoch_checkpoints": 0,  # also keep epochN.pt for the last N epochs
        "preload_max_mb": 2048,       # dumps up to this size are read into memory
        "max_bad_steps": 0,           # batches with a non-finite loss skipped before training stops
        "log_interval_seconds": 30,   # progress within an epoch is logged this often
    },
}



def lower_is_better(metric: str) -> bool:
    """For `train.best_metric`: the validation loss, or a registered metric where lower is better."""
    from mer.metrics import METRICS

    return metric == "loss" or (metric in METRICS and not METRICS[metric].higher_is_better)


def deep_update(base: dict, new: dict) -> dict:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_update(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
    return base


def parse_override(item: str) -> tuple[list[str], object]:
    if "=" not in item:
        raise ValueError(f"override '{item}' is not of the form key.sub=value")
    key, value = item.split("=", 1)
    return key.strip().split("."), yaml.safe_load(value)


def apply_overrides(conf: dict, overrides: list[str]) -> dict:
    for item in overrides:
        keys, value = parse_override(item)
        node = conf
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ValueError(f"override '{item}': '{k}' is not a section")
        node[keys[-1]] = value
    return conf


def load_config(path: str | Path | None, overrides: list[str] = ()) -> dict:
    conf = copy.deepcopy(DEFAULTS)
    if path:
        with open(path, encoding="utf-8") as f:
            user = yaml.safe_load(f) or {}
        if not isinstance(user, dict):
            raise ValueError(f"{path}: a config must be a YAML mapping")
        unknown = set(user) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"{path}: unknown top-level section(s) {sorted(unknown)}; "
                             f"known: {sorted(DEFAULTS)}")
        deep_update(conf, user)
    apply_overrides(conf, list(overrides))
    from mer.train.schema import validate_config

    source = str(path or "config") + (f" (with overrides {' '.join(overrides)})" if overrides else "")
    return validate_config(conf, source)


def save_config(conf: dict, path: str | Path) -> None:
    from mer.utils.fileio import atomic_open

    with atomic_open(path) as f:
        yaml.safe_dump(conf, f, sort_keys=False)


def experiment_tag(config_path: str | Path, overrides: list[str] = ()) -> str:
    """ESPnet-style tag: the config's base name plus the overrides, so a changed knob gets a new dir.

    `conf/tuning/train_memocmt_min.yaml` + `train.epochs=3` -> `train_memocmt_min_train.epochs3`.
    """
    tag = Path(config_path).stem
    for item in overrides:
        keys, _ = parse_override(item)
        value = item.split("=", 1)[1]
        tag += "_" + ".".join(keys) + re.sub(r"[^A-Za-z0-9.+-]", "", value)
    return tag


def config_stem(tag: str) -> str:
    """The config's base name of an experiment tag: `train_memocmt_min_train.epochs3` -> `train_memocmt_min`."""
    return re.split(r"_(?=(?:optim|scheduler|train|labels|model|inputs)\.)", tag, maxsplit=1)[0]
