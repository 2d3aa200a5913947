"""Model registry (WeNet's `init_model` table): a system is an `AbsEmotionModel` subclass registered
with `@register_model(name)` in a module of this package (found by scanning it: no list to edit),
plus a config block `model: {name: ...}`.
"""
from __future__ import annotations

from mer.models.abs_model import MODEL_CLASSES, AbsEmotionModel, ModelOutput, register_model

__all__ = ["MODEL_CLASSES", "AbsEmotionModel", "ModelOutput", "register_model", "build_model", "model_class",
           "model_input_names"]


def model_class(model_conf: dict) -> type[AbsEmotionModel]:
    return MODEL_CLASSES.get_entry(model_conf.get("name"), "model.name")


def model_input_names(model_conf: dict) -> tuple[str, ...]:
    """The named inputs the configured model reads."""
    return tuple(model_class(model_conf).input_names(model_conf))


def build_model(model_conf: dict, num_classes: int, input_infos: dict) -> AbsEmotionModel:
    """`input_infos`: name -> `mer.inputs.InputInfo` for every input the model reads."""
    conf = dict(model_conf)
    cls = model_class(conf)
    conf.pop("name")
    label_smoothing = float(conf.pop("label_smoothing", 0.0) or 0.0)
    conf.pop("init", None)  # initialisation from another run (mer.train.init_from), not a constructor argument
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"config: model.label_smoothing must be in [0, 1), got {label_smoothing}")
    absent = [n for n in cls.input_names(model_conf) if n not in input_infos]
    if absent:
        raise ValueError(f"model '{model_conf['name']}' reads input(s) {absent}, but only "
                         f"{sorted(input_infos) or 'none'} were given")
    try:
        model = cls(num_classes=num_classes, input_infos=input_infos, **conf)
    except TypeError as e:  # an unknown key in the model block: name it and the class
        raise ValueError(f"config: model ({cls.__name__}): {e}") from None
    model.label_smoothing = label_smoothing
    return model
