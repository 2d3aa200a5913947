"""Everything the toolkit can be configured with, by kind, one line each with what it is.

  python -m mer.bin.list              every kind
  python -m mer.bin.list metric       one kind (model, input, combiner, metric, feature, figure, corpus)

Models, input types, combiners, metrics, feature types and figures come from their registries (mer.registry: a decorator in a module of
their package); corpora from the corpus registry (a module of mer/data/corpora or an entry point).
"""
from __future__ import annotations

import argparse
import sys


def _registries() -> dict[str, list[tuple[str, str]]]:
    import mer.combine  # noqa: F401  (each package creates its registry)
    import mer.features  # noqa: F401
    import mer.inputs  # noqa: F401
    import mer.metrics  # noqa: F401
    import mer.plots.figures  # noqa: F401
    import mer.models  # noqa: F401
    from mer.data.corpora.registry import all_corpora
    from mer.registry import ALL

    kinds = {kind: [(name, reg.description(name)) for name in sorted(reg)] for kind, reg in ALL.items()}
    metrics = ALL["metric"]
    kinds["metric"] = [(name, f"[{metrics[name].label}; {'higher' if metrics[name].higher_is_better else 'lower'} "
                              f"is better{'' if metrics[name].selectable else '; not for selection'}] "
                              f"{metrics.description(name)}") for name, _ in kinds["metric"]]
    kinds["corpus"] = [(c.name, c.description) for c in all_corpora()]
    return kinds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mer.bin.list", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", nargs="?", help="only this kind")
    args = parser.parse_args(argv)
    kinds = _registries()
    if args.kind and args.kind not in kinds:
        parser.error(f"kind must be one of {', '.join(sorted(kinds))}, got '{args.kind}'")
    for kind in [args.kind] if args.kind else sorted(kinds):
        print(f"{kind}:")
        width = max((len(n) for n, _ in kinds[kind]), default=0)
        for name, description in kinds[kind]:
            print(f"  {name.ljust(width)}  {description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
