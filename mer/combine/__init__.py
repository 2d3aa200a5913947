"""Systems made from other systems' outputs (or from dumps) without training in `mer.train`.

A combiner reads, per fold, what it needs (other systems' decode dirs for the valid and test sets,
a feature dump, ...), chooses its settings on training/validation data only, and writes its own
decode dirs, which stages 5 and 6 score and plot like any trained system. A linear probe on a dump
is one; the hierarchy of system C (route, then re-classify) is another.

To add one: a module here with a subclass of `AbsCombiner` decorated with
`@register_combiner(name)`, imported below; a recipe names it in a YAML file
(`combiner: {name: ..., <settings>}`) listed in `--combine_configs`.
"""
from __future__ import annotations

from mer.combine.base import COMBINERS, AbsCombiner, FoldContext, register_combiner
from mer.combine import linear_probe  # noqa: F401,E402  (registers linear_probe)
from mer.combine import hierarchy  # noqa: F401,E402  (registers hierarchy: system C)

__all__ = ["COMBINERS", "AbsCombiner", "FoldContext", "register_combiner", "build_combiner"]


def build_combiner(settings: dict) -> AbsCombiner:
    conf = dict(settings)
    name = conf.pop("name", None)
    if name not in COMBINERS:
        raise ValueError(f"combiner.name must be one of {', '.join(sorted(COMBINERS))}, got '{name}'")
    try:
        return COMBINERS[name](**conf)
    except TypeError as e:
        raise ValueError(f"combiner {name}: {e}") from None
