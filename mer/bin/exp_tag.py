"""Print the experiment tag of a training config and its overrides (ESPnet-style).

Usage:
  python -m mer.bin.exp_tag CONFIG [KEY=VALUE ...]
  e.g. conf/tuning/train_memocmt_min.yaml train.epochs=3 -> train_memocmt_min_train.epochs3
"""
from __future__ import annotations

import sys

from mer.train.config import experiment_tag, load_config


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    load_config(argv[0], argv[1:])  # fail early on a bad config or override
    print(experiment_tag(argv[0], argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
