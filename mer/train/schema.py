"""Checking a resolved training config: every key known, every value of its type.

A small typed schema (the standard library's `typing` hints, no extra dependency): the `optim`,
`scheduler`, `train` and `labels` sections are described below; the `model` block is checked against
the registered model class's constructor (its parameter names and type hints); `inputs` against the
input types. YAML 1.1 reads `1e-3` as a string: a float field takes such a number string. A wrong key
or type is a ValueError naming the file, the key and what is allowed.
"""
from __future__ import annotations

import inspect
import math
import types
import typing
from typing import Literal, Optional, Union

from mer.metrics import selectable_metrics

# train.best_metric: a registered metric that may select checkpoints, the validation loss, or the last epoch
METRICS = Literal[selectable_metrics() + ("loss", "last")]

SECTIONS: dict[str, dict[str, object]] = {
    "optim": {"name": Literal["adam", "adamw"], "lr": float, "betas": list[float], "eps": float,
              "weight_decay": float, "encoder_lr": Optional[float], "encoder_freeze_steps": int},
    "scheduler": {"name": Literal["steplr", "cosine", "time_decay", "none"], "step_size": int, "gamma": float,
                  "warmup_steps": int, "decay": float},
    "train": {"epochs": int, "unit": Literal["utterance", "dialogue"], "batch_size": int,
              "batch_counts": Literal["samples", "utterances"], "accum_grad": int,
              "bucketing": bool, "max_frames": Optional[int], "grad_clip": Optional[float],
              "early_stopping_patience": Optional[int], "best_metric": METRICS, "seed": int,
              "fit_on": Literal["train", "train+valid"],
              "amp": Union[bool, Literal["auto"]], "num_workers": int, "keep_epoch_checkpoints": int,
              "preload_max_mb": float, "max_bad_steps": int, "log_interval_seconds": float},
    "labels": {"map": Optional[dict[str, str]], "classes": Optional[list[str]],
               "unknown": Literal["error", "drop"]},
}
POSITIVE = {"train.epochs", "train.batch_size", "train.accum_grad", "scheduler.step_size"}
NON_NEGATIVE = {"scheduler.decay"}


class ConfigError(ValueError):
    pass


def _name(hint) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return " | ".join(_name(a) for a in typing.get_args(hint))
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_name(a) for a in typing.get_args(hint))}]"
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


class _Mismatch(Exception):
    pass


def coerce(value, hint):
    """`value` as `hint` wants it, or _Mismatch. Ints are floats too; a number string is a float."""
    if hint is typing.Any or hint is inspect.Parameter.empty:
        return value
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        for arm in typing.get_args(hint):
            try:
                return coerce(value, arm)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in typing.get_args(hint)):
            return value
        raise _Mismatch
    if hint is type(None):
        if value is None:
            return None
        raise _Mismatch
    if origin is list or hint is list or origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        args = typing.get_args(hint)
        return [coerce(v, args[0]) if args else v for v in value]
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        args = typing.get_args(hint)
        return {coerce(k, args[0]): coerce(v, args[1]) for k, v in value.items()} if args else value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch  # "no", "yes", 0, 1 are not booleans here: say true or false
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                number = float(value)  # YAML 1.1 leaves `1e-3` a string
            except ValueError:
                raise _Mismatch from None
            if math.isfinite(number):
                return number
        raise _Mismatch
    if hint is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        raise _Mismatch
    return value


def _check_section(section: dict, schema: dict, where: str, source: str) -> None:
    for key in list(section):
        if key not in schema:
            raise ConfigError(f"{source}: unknown key {where}.{key}; allowed: {', '.join(sorted(schema))}")
        try:
            section[key] = coerce(section[key], schema[key])
        except _Mismatch:
            raise ConfigError(f"{source}: {where}.{key} must be {_name(schema[key])}, got "
                              f"{section[key]!r}") from None
        if f"{where}.{key}" in POSITIVE and section[key] is not None and section[key] <= 0:
            raise ConfigError(f"{source}: {where}.{key} must be positive, got {section[key]!r}")
        if f"{where}.{key}" in NON_NEGATIVE and section[key] < 0:
            raise ConfigError(f"{source}: {where}.{key} must be >= 0, got {section[key]!r}")


def model_schema(model_conf: dict) -> dict[str, object]:
    """Keys and types a model block may have: the registered class's constructor parameters."""
    from mer.models import model_class

    cls = model_class(model_conf)
    params = inspect.signature(cls.__init__).parameters
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # an unresolvable annotation: check names only
        hints = {}
    skip = {"self", "num_classes", "input_infos"}
    schema = {n: hints.get(n, typing.Any) for n, p in params.items()
              if n not in skip and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    schema["name"] = str
    schema["label_smoothing"] = float  # every model's default loss (AbsEmotionModel.loss)
    # branch -> the config whose trained model initialises it (mer.train.init_from), for every model
    schema["init"] = Optional[dict[str, str]]
    return schema


def validate_config(conf: dict, source: str) -> dict:
    """Check (and coerce number strings in) a resolved config in place; return it."""
    for name, schema in SECTIONS.items():
        if not isinstance(conf.get(name), dict):
            raise ConfigError(f"{source}: {name} must be a mapping, got {conf.get(name)!r}")
        _check_section(conf[name], schema, name, source)
    if not isinstance(conf.get("model"), dict):
        raise ConfigError(f"{source}: model must be a mapping with a name")
    try:
        schema = model_schema(conf["model"])
    except ValueError as e:
        raise ConfigError(f"{source}: {e}") from None
    _check_section(conf["model"], schema, "model", source)
    from mer.models.streams import ENCODER_KEYS

    for name, enc in (conf["model"].get("encoders") or {}).items():
        unknown = set(enc or {}) - ENCODER_KEYS if isinstance(enc, dict) else {"(not a mapping)"}
        if unknown:
            raise ConfigError(f"{source}: model.encoders.{name}: unknown key(s) {sorted(unknown)}; "
                              f"allowed: {', '.join(sorted(ENCODER_KEYS))}")
    if conf["train"]["fit_on"] == "train+valid" and conf["train"]["best_metric"] != "last":
        raise ConfigError(f"{source}: train.fit_on train+valid trains on the validation set too, so nothing "
                          f"is left to choose a checkpoint on: set train.best_metric: last")
    if not isinstance(conf.get("inputs"), dict):
        raise ConfigError(f"{source}: inputs must be a mapping of input name -> source")
    from mer.inputs import normalize_input_spec

    for name, spec in conf["inputs"].items():
        try:
            normalize_input_spec(name, spec)
        except ValueError as e:
            raise ConfigError(f"{source}: {e}") from None
    return conf
