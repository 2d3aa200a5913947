"""Print the experiment tag of training configs and their overrides (ESPnet-style), one line per
config, after checking each config with the overrides (a bad one fails here, before any training).

Usage:
  python -m mer.bin.exp_tag CONFIG [CONFIG ...] [KEY=VALUE ...]
  e.g. conf/tuning/train_memocmt_min.yaml train.epochs=3 -> train_memocmt_min_train.epochs3
Arguments with `=` are overrides, the others configs (emo.sh asks for all of a recipe's at once:
one Python start instead of one per config).
"""
from __future__ import annotations

import sys

from mer.train.config import experiment_tag, load_config


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    configs = [a for a in argv if "=" not in a]
    overrides = [a for a in argv if "=" in a]
    for config in configs:
        load_config(config, overrides)  # fail early on a bad config or override
    for config in configs:
        print(experiment_tag(config, overrides))
    return 0


if __name__ == "__main__":
    sys.exit(main())
