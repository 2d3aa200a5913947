"""Systems made from other systems' outputs (or from dumps) without training in `mer.train`.

A combiner reads, per fold, what it needs (other systems' decode dirs for the valid and test sets,
a feature dump, ...), chooses its settings on training/validation data only, and writes its own
decode dirs, which stages 5 and 6 score and plot like any trained system. A linear probe on a dump
is one; the hierarchy of system C (route, then re-classify) is another.

To add one: a module here with a subclass of `AbsCombiner` decorated with
`@register_combiner(name)` (the package is scanned: no list to edit); a recipe names it in a YAML file
(`combiner: {name: ..., <settings>}`) listed in `--combine_configs`.
"""
from __future__ import annotations

from mer.combine.base import COMBINERS, AbsCombiner, FoldContext, register_combiner

__all__ = ["COMBINERS", "AbsCombiner", "FoldContext", "register_combiner", "build_combiner"]


def build_combiner(settings: dict) -> AbsCombiner:
    conf = dict(settings)
    name = conf.pop("name", None)
    cls = COMBINERS.get_entry(name, "combiner.name")
    try:
        return cls(**conf)
    except TypeError as e:
        raise ValueError(f"combiner {name}: {e}") from None
