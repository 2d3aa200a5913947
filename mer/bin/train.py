"""Train an emotion model on its named inputs (dumped features, raw audio, text).

Usage:
  python -m mer.bin.train --config conf/tuning/train_memocmt_min.yaml \
      --train-dir data/loso/fold1/train --valid-dir data/loso/fold1/valid \
      --dumpdir dump --exp-dir exp/loso/train_memocmt_min/fold1 [--labels data/all/labels] \
      [--override train.epochs=3 ...]
  torchrun --standalone --nproc_per_node 2 -m mer.bin.train ...   # several GPUs (or CPU processes)
  python -m mer.bin.train_nodes --nnodes 2 --nproc-per-node 4 --gpus-per-node 4 -- ...   # several nodes

The resolved config is saved as EXP_DIR/config.yaml; logs go to EXP_DIR/train.log and
EXP_DIR/tensorboard. Re-running after an interruption resumes from EXP_DIR/checkpoint.pt.
Batch size is global: N processes split each batch N ways.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from mer.data.datadir import DataDir
from mer.data.kaldi_io import read_list
from mer.models import build_model, model_input_names
from mer.train.config import load_config, save_config
from mer.inputs import LabelMap, open_datasets
from mer.inputs.cmvn import mix_typical_stats
from mer.train.label_check import check_unknown_labels, record_dropped
from mer.train.dist import cleanup, init_distributed
from mer.train.init_from import init_branches
from mer.train.trainer import Trainer, TrainingDiverged, seed_everything
from mer.utils.lock import DirLock, LockHeld
from mer.utils.fileio import write_text_atomic


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="YAML config (conf/tuning/*.yaml)")
    p.add_argument("--train-dir", required=True)
    p.add_argument("--valid-dir", required=True)
    p.add_argument("--dumpdir", default="dump", help="folder holding the dumps named in config 'features'")
    p.add_argument("--exp-dir", required=True)
    p.add_argument("--labels", help="label set file, one per line, in output order "
                                    "(default: the sorted labels of the training set)")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. train.epochs=3 (repeatable)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--test-dir", action="append", default=[],
                   help="a test set of the fold (repeatable; default: the sibling `test` of --train-dir); "
                        "with train.unit=dialogue no test dialogue may have turns in training")
    p.add_argument("--skip-if-done", action="store_true",
                   help="exit at once when EXP_DIR/train_summary.json exists (a finished run)")
    return p


def setup_logging(exp_dir: Path, is_main: bool) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if is_main:
        handlers.append(logging.FileHandler(exp_dir / "train.log"))
    logging.basicConfig(level=logging.INFO if is_main else logging.WARNING, handlers=handlers, force=True,
                        format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")


def load_labels(path: str | None, train_dir: str) -> list[str]:
    if path:
        return read_list(path)
    from mer.data.datadir import DataDir

    return sorted(set(DataDir.load(train_dir).utt2emo.values()))


def check_dialogue_protocol(train_dir: str, valid_dir: str, test_dirs: list[str]) -> None:
    """Dialogue batches need every test dialogue wholly outside training: context from a test
    dialogue seen in training would leak. (Train and valid may share a dialogue: valid only picks
    the checkpoint.)"""
    from mer.data.datadir import DataDir
    from mer.data.dialogues import dialogue_split_violations

    seen = DataDir.load(train_dir).subset([])  # train + valid, as one set
    for d in (train_dir, valid_dir):
        part = DataDir.load(d)
        seen.utt2spk.update(part.utt2spk)
        seen.extra.setdefault("utt2dialog", {}).update(part.extra.get("utt2dialog", {}))
    for test_dir in test_dirs:
        split = dialogue_split_violations({"train+valid": seen, "test": DataDir.load(test_dir)})
        if split:
            raise ValueError(f"train.unit is dialogue, but {len(split)} dialogue(s) of {test_dir} also have "
                             f"turns in {train_dir} or {valid_dir} (e.g. {split[0]}); use a protocol that "
                             f"keeps dialogues whole, or train.unit=utterance")


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    if args.skip_if_done and (Path(args.exp_dir) / "train_summary.json").is_file():
        print(f"train: {args.exp_dir} already trained, skipping", file=sys.stderr)
        return 0
    ctx = init_distributed(args.device)
    exp_dir = Path(args.exp_dir)
    lock = None
    if ctx.is_main:
        exp_dir.mkdir(parents=True, exist_ok=True)
        # One trainer per exp dir: a second one (a re-run while an orphan still trains) stops here.
        lock = DirLock(exp_dir, f"experiment dir {exp_dir}").acquire()
    try:
        return _train(args, ctx, exp_dir)
    finally:
        if lock:
            lock.release()


def _train(args, ctx, exp_dir: Path) -> int:
    ctx.barrier()
    setup_logging(exp_dir, ctx.is_main)
    log = logging.getLogger("mer.train")
    conf = load_config(args.config, args.override)
    label_map = LabelMap(conf["labels"], load_labels(args.labels, args.train_dir))
    labels = label_map.classes
    sets = {"train": args.train_dir, "valid": args.valid_dir}
    dropped = check_unknown_labels(label_map, sets, args.labels or f"{args.train_dir}/utt2emo (no --labels)")
    if conf["train"]["unit"] == "dialogue":
        sibling = Path(args.train_dir).parent / "test"
        tests = args.test_dir or ([str(sibling)] if (sibling / "utt2spk").is_file() else [])
        check_dialogue_protocol(args.train_dir, args.valid_dir, tests)
    if ctx.is_main:
        save_config(conf, exp_dir / "config.yaml")
        write_text_atomic(exp_dir / "classes", "".join(f"{lab}\n" for lab in labels))
        record_dropped(exp_dir, dropped, sets)
        log.info("%s", " ".join(sys.argv))
        log.info("world size %d, device %s, labels %s", ctx.world_size, ctx.device, labels)
    seed_everything(conf["train"]["seed"] + ctx.rank)
    train_data = args.train_dir
    if conf["train"]["fit_on"] == "train+valid":  # with best_metric last (mer.train.schema)
        train_data = DataDir.combine([DataDir.load(args.train_dir), DataDir.load(args.valid_dir)])
    inputs, (train_set, valid_set) = open_datasets(conf, args.dumpdir, label_map, [train_data, args.valid_dir],
                                                   model_input_names(conf["model"]))
    train_set.inputs = mix_typical_stats(train_set.inputs, conf["inputs"], train_set.data)  # cmvn_typical_prob
    for name, data in (("training", train_set), ("validation", valid_set)):
        if len(data) == 0:
            raise ValueError(f"the {name} set {data.data_dir} has no utterance inside the label set {labels}")
    # Same initial weights on every rank (DDP also broadcasts them, but resume needs them equal).
    seed_everything(conf["train"]["seed"])
    model = build_model(conf["model"], len(labels), {k: s.info for k, s in inputs.items()})
    if not (exp_dir / "checkpoint.pt").is_file():  # a resumed run has its own weights
        init_branches(model, conf, exp_dir, args.override)
    seed_everything(conf["train"]["seed"] + ctx.rank)
    if ctx.is_main:
        n = sum(p.numel() for p in model.parameters() if p.requires_grad)
        log.info("model %s: %.2fM trainable parameters; %d train / %d valid utterances",
                 conf["model"]["name"], n / 1e6, len(train_set), len(valid_set))
    try:
        Trainer(conf, exp_dir, model, train_set, valid_set, labels, ctx).fit()
    finally:
        cleanup()
    return 0


def cli() -> int:
    # SIGTERM (a killed stage, a cluster's time limit) unwinds like an exception: the lock is released.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        return main()
    except (ValueError, OSError, LockHeld, TrainingDiverged) as e:  # a message, not a traceback
        print(f"train: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(cli())
