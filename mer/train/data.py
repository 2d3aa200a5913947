"""Training data: a data dir's utterances with their dumped features, labels and text.

Features come from dump dirs (`feats.scp` + `feats_info.json`) made by `mer.bin.dump_feats` on a
superset of utterances (usually `data/all`), so one dump serves every fold of every protocol.
"""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import torch

from mer.data.datadir import DataDir
from mer.models.streams import StreamInfo


class FeatureDump:
    """Lazy access to one dump directory."""

    def __init__(self, path: str | Path, preload_max_mb: float = 2048):
        import kaldiio

        self.path = Path(path)
        scp = self.path / "feats.scp"
        if not scp.is_file():
            raise FileNotFoundError(f"{scp} not found: run the feature-dumping stage (stage 2) first")
        self.info = json.loads((self.path / "feats_info.json").read_text())
        self.stream_info = StreamInfo.from_feats_info(self.info)
        self._table = kaldiio.load_scp(str(scp))
        self.num_frames = {k: int(v) for k, v in (ln.split() for ln in
                           (self.path / "utt2num_frames").read_text().splitlines() if ln.strip())}
        # Small dumps are read into memory once; large ones are read per access.
        size_mb = sum(p.stat().st_size for p in self.path.rglob("*.ark")) / 2**20
        self._cache: dict[str, np.ndarray] | None = {} if size_mb <= preload_max_mb else None

    def __contains__(self, utt: str) -> bool:
        return utt in self.num_frames

    def __getitem__(self, utt: str) -> np.ndarray:
        if self._cache is not None and utt in self._cache:
            return self._cache[utt]
        mat = np.array(self._table[utt], dtype=np.float32)  # a writable copy: torch wants one
        if self._cache is not None:
            self._cache[utt] = mat
        return mat


def open_dumps(conf: dict, dumpdir: str | Path) -> dict[str, FeatureDump]:
    """The dumps a model config reads: every stream it uses except a fine-tuned text encoder."""
    from mer.models import finetunes_text, model_streams

    dumps = {}
    for name in model_streams(conf["model"]):
        if name == "text" and finetunes_text(conf["model"]):
            continue
        feat = conf["features"].get(name)
        if not feat:
            raise ValueError(f"config: the model reads '{name}' features but features.{name} is not set")
        dumps[name] = FeatureDump(Path(dumpdir) / feat, conf["train"]["preload_max_mb"])
    return dumps


def open_datasets(conf: dict, dumpdir: str | Path, labels: list[str], data_dirs: list[str | Path],
                  require_labels: bool = True) -> tuple[dict[str, FeatureDump], list["EmotionDataset"]]:
    """The dumps of `conf` and one dataset per data dir, reading raw text where the model needs it."""
    from mer.models import model_streams

    dumps = open_dumps(conf, dumpdir)
    raw_text = "text" in model_streams(conf["model"]) and "text" not in dumps
    return dumps, [EmotionDataset(d, labels, dumps, need_raw_text=raw_text, require_labels=require_labels)
                   for d in data_dirs]


class EmotionDataset(torch.utils.data.Dataset):
    def __init__(self, data_dir: str | Path, labels: list[str], dumps: dict[str, FeatureDump],
                 need_raw_text: bool = False, require_labels: bool = True):
        self.data = DataDir.load(data_dir)
        self.data_dir = str(data_dir)
        self.labels = labels
        self.label_index = {lab: i for i, lab in enumerate(labels)}
        self.dumps = dumps
        self.need_raw_text = need_raw_text
        utts = self.data.utts
        missing = {name: [u for u in utts if u not in d] for name, d in dumps.items()}
        for name, miss in missing.items():
            if miss:
                raise ValueError(f"{len(miss)} utterance(s) of {data_dir} have no '{name}' features in "
                                 f"{dumps[name].path} (e.g. {miss[0]}); dump them, or drop them with "
                                 f"utils/fix_data_dir.sh --exclude {dumps[name].path}/failed {data_dir}")
        if require_labels:
            for u in utts:
                lab = self.data.utt2emo.get(u)
                if lab is None:
                    raise ValueError(f"{data_dir}/utt2emo: no label for utterance {u}")
                if lab not in self.label_index:
                    raise ValueError(f"{data_dir}/utt2emo: utterance {u} has label '{lab}' outside the "
                                     f"label set {labels}")
        if need_raw_text and not self.data.text:
            raise ValueError(f"{data_dir}/text is missing but the model reads raw text")
        self.utts = utts

    def __len__(self) -> int:
        return len(self.utts)

    def length(self, i: int) -> int:
        """Sequence length used for bucketing: audio frames if there are any, else text tokens."""
        utt = self.utts[i]
        for name in ("audio", "text"):
            if name in self.dumps:
                return self.dumps[name].num_frames[utt]
        return len(self.data.text.get(utt, "").split())

    def __getitem__(self, i: int) -> dict:
        weight = 1.0
        if i < 0:  # a padding item from BucketBatchSampler: real data, zero weight in the loss
            i, weight = -1 - i, 0.0
        utt = self.utts[i]
        item = {"utt": utt, "label": self.label_index.get(self.data.utt2emo.get(utt, ""), -1), "weight": weight}
        for name, dump in self.dumps.items():
            item[name] = torch.from_numpy(dump[utt])
        if self.need_raw_text:
            item["text_raw"] = self.data.text.get(utt, "")
        return item


def collate(items: list[dict]) -> dict:
    """Pad each stream to the longest in the batch; lengths give the padding masks."""
    batch = {"utts": [it["utt"] for it in items], "labels": torch.tensor([it["label"] for it in items]),
             "weights": torch.tensor([it["weight"] for it in items])}
    for name in ("audio", "text"):
        if name in items[0]:
            seqs = [it[name] for it in items]
            batch[f"{name}_lengths"] = torch.tensor([s.shape[0] for s in seqs])
            batch[name] = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True)
    if "text_raw" in items[0]:
        batch["text_raw"] = [it["text_raw"] for it in items]
    return batch


class BucketBatchSampler(torch.utils.data.Sampler):
    """Global batches of similar length, shuffled per epoch, shared out across DDP ranks.

    Batch size is global (ESPnet's convention): with W processes each rank gets its 1/W slice of
    every global batch, so W processes see exactly the batches one process would, and a run
    with 2 processes reproduces a run with 1. `batch_size=1` with `bucketing=False` is
    MemoCMT's published setting.
    """

    def __init__(self, lengths: list[int], batch_size: int, shuffle: bool = True, bucketing: bool = True,
                 seed: int = 0, rank: int = 0, world_size: int = 1, max_frames: int | None = None):
        if batch_size < world_size:
            raise ValueError(f"global batch size {batch_size} is smaller than the number of processes "
                             f"{world_size}")
        self.lengths, self.batch_size, self.shuffle = lengths, batch_size, shuffle
        self.bucketing, self.seed, self.rank, self.world_size = bucketing, seed, rank, world_size
        self.max_frames = max_frames
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def global_batches(self) -> list[list[int]]:
        rng = random.Random(self.seed * 100003 + self.epoch)
        idx = list(range(len(self.lengths)))
        if self.shuffle:
            rng.shuffle(idx)
        if self.bucketing:
            idx.sort(key=lambda i: self.lengths[i])  # stable: ties keep the shuffled order
        batches, cur, cur_max = [], [], 0
        for i in idx:
            longest = max(cur_max, self.lengths[i])
            too_long = self.max_frames is not None and cur and longest * (len(cur) + 1) > self.max_frames
            if cur and (len(cur) >= self.batch_size or too_long):
                batches.append(cur)
                cur, longest = [], self.lengths[i]
            cur.append(i)
            cur_max = longest
        if cur:
            batches.append(cur)
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def __iter__(self):
        for batch in self.global_batches():
            if self.world_size == 1:
                yield batch
            else:
                # Every rank must run the same number of steps; a rank whose share is empty
                # repeats the batch's first item with weight zero (see `rank_slice`).
                yield rank_slice(batch, self.rank, self.world_size)

    def __len__(self) -> int:
        return len(self.global_batches())


def rank_slice(batch: list[int], rank: int, world_size: int) -> list[int]:
    per = math.ceil(len(batch) / world_size)
    part = batch[rank * per:(rank + 1) * per]
    return part if part else [-1 - batch[0]]  # negative: a padding item, excluded from the loss
