"""Datasets: a data dir's samples (utterances or whole dialogues) with their named inputs.

Inputs (`mer.inputs`) come from dumps made once over `data/all`, the data dir's audio, or
text files, so one dump serves every fold of every protocol. A batch is always one row per
utterance; `dialog_lengths` gives the dialogue structure to models that use it.
"""
from __future__ import annotations

import logging
import math
import random
from pathlib import Path

import torch

from mer.data.datadir import DataDir
from mer.data.dialogues import dialogues
from mer.inputs.labels import LabelMap
from mer.inputs.spec import open_inputs

log = logging.getLogger("mer.train")
UNITS = ("utterance", "dialogue")


def open_datasets(conf: dict, dumpdir: str | Path, label_map: LabelMap, data_dirs: list[str | Path],
                  input_names, training: bool = True) -> tuple[dict, list["EmotionDataset"]]:
    """The inputs `input_names` of `conf` (those its model reads) and one dataset per data dir."""
    inputs = open_inputs(conf, dumpdir, input_names)
    unit = conf["train"]["unit"]
    return inputs, [EmotionDataset(d, label_map, inputs, unit=unit, training=training) for d in data_dirs]


class EmotionDataset(torch.utils.data.Dataset):
    """A data dir's utterances as samples: one utterance, or one dialogue's ordered turns.

    `training`: every utterance must have a label; with single utterances, those outside the label
    set are left out; in dialogues they stay as context (label -1, weight 0). For inference
    (`training=False`) every utterance is kept and a missing label is -1.
    """

    def __init__(self, data_dir: str | Path | DataDir, label_map: LabelMap, inputs: dict, unit: str = "utterance",
                 training: bool = True):
        if unit not in UNITS:
            raise ValueError(f"config: train.unit must be one of {UNITS}, got '{unit}'")
        # A DataDir in memory: recordings recognised outside a recipe (mer.recognizer).
        in_memory = isinstance(data_dir, DataDir)
        self.data = data_dir if in_memory else DataDir.load(data_dir)
        self.data_dir = str(data_dir.source or "the recordings given") if in_memory else str(data_dir)
        self.label_map, self.inputs, self.unit = label_map, inputs, unit
        utts = self.data.utts
        if training:
            unlabelled = [u for u in utts if u not in self.data.utt2emo]
            if unlabelled:
                raise ValueError(f"{data_dir}/utt2emo: no label for {len(unlabelled)} utterance(s), "
                                 f"e.g. {unlabelled[0]}")
        self.label = {u: label_map.index(self.data.utt2emo.get(u)) for u in utts}
        self.outside = [u for u in utts if u in self.data.utt2emo and self.label[u] < 0]
        if training and unit == "utterance":
            utts = [u for u in utts if self.label[u] >= 0]
            if self.outside:
                log.info("%s: %d utterance(s) outside the label set %s left out (e.g. %s: '%s')", data_dir,
                         len(self.outside), label_map.classes, self.outside[0],
                         self.data.utt2emo[self.outside[0]])
        for name, source in inputs.items():
            miss = source.missing(self.data, utts)
            if miss:
                raise ValueError(f"{len(miss)} utterance(s) of {data_dir} have no '{name}' input "
                                 f"(e.g. {miss[0]}); {source.remedy(str(data_dir))}")
        self.utts = utts
        if unit == "dialogue":
            keep = set(utts)
            groups = dialogues(self.data)
            lone = keep - {u for turns in groups.values() for u in turns}
            if lone:
                raise ValueError(f"{data_dir}/utt2dialog: {len(lone)} utterance(s) belong to no dialogue "
                                 f"(e.g. {sorted(lone)[0]}), so train.unit=dialogue cannot place them")
            self.samples = [[u for u in turns if u in keep] for turns in groups.values()]
            self.samples = [s for s in self.samples if s]
        else:
            self.samples = [[u] for u in utts]
        # Bucketing length: the first non-text input (frames, samples), else words; a dialogue: turns.
        order = sorted(inputs, key=lambda n: inputs[n].info.type == "text")
        self._length_input = inputs[order[0]] if order else None

    def __len__(self) -> int:
        return len(self.samples)

    def length(self, i: int) -> int:
        sample = self.samples[i]
        if self.unit == "dialogue":
            return len(sample)
        return self._length_input.length(self.data, sample[0]) if self._length_input else 1

    def __getitem__(self, i: int) -> list[dict]:
        weight = 1.0
        if i < 0:  # a padding item from BucketBatchSampler: real data, zero weight in the loss
            i, weight = -1 - i, 0.0
        items = []
        for utt in self.samples[i]:
            label = self.label[utt]
            item = {"utt": utt, "label": label, "weight": weight if label >= 0 else 0.0}
            for name, source in self.inputs.items():
                item[name] = source.load(self.data, utt)
            items.append(item)
        return items


def collate(samples: list[list[dict]]) -> dict:
    """Flatten samples (utterances or dialogues) into one row per utterance; each input padded by its
    source, with lengths; `dialog_lengths` says how many consecutive rows each sample holds."""
    items = [it for s in samples for it in s]
    batch = {"utts": [it["utt"] for it in items], "labels": torch.tensor([it["label"] for it in items]),
             "weights": torch.tensor([it["weight"] for it in items]),
             "dialog_lengths": torch.tensor([len(s) for s in samples])}
    for name in items[0]:
        if name in ("utt", "label", "weight"):
            continue
        values = [it[name] for it in items]
        if isinstance(values[0], str):
            batch[name], batch[f"{name}_lengths"] = list(values), torch.tensor(
                [max(1, len(v.split())) for v in values])
        else:
            batch[name], batch[f"{name}_lengths"] = pad_sequences(values)
    return batch


def pad_sequences(seqs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True),
            torch.tensor([s.shape[0] for s in seqs]))


class BucketBatchSampler(torch.utils.data.Sampler):
    """Global batches of similar length, shuffled per epoch, shared out across DDP ranks.

    Batch size is global (ESPnet's convention): with W processes each rank gets its 1/W slice of
    every global batch, so W processes see exactly the batches one process would, and a run
    with 2 processes reproduces a run with 1. `batch_size=1` with `bucketing=False` is
    MemoCMT's published setting. `sizes` (utterances per sample, e.g. a dialogue's turns) makes
    batch_size count utterances: whole samples are added while the batch stays within batch_size
    utterances, and a sample longer than that is a batch of its own (a dialogue is never cut).
    """

    def __init__(self, lengths: list[int], batch_size: int, shuffle: bool = True, bucketing: bool = True,
                 seed: int = 0, rank: int = 0, world_size: int = 1, max_frames: int | None = None,
                 sizes: list[int] | None = None):
        if batch_size < world_size:
            raise ValueError(f"global batch size {batch_size} is smaller than the number of processes "
                             f"{world_size}")
        self.lengths, self.batch_size, self.shuffle = lengths, batch_size, shuffle
        self.bucketing, self.seed, self.rank, self.world_size = bucketing, seed, rank, world_size
        self.max_frames = max_frames
        if sizes is not None and len(sizes) != len(lengths):
            raise ValueError(f"{len(sizes)} sample sizes for {len(lengths)} samples")
        self.sizes = sizes
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
        batches, cur, cur_max, cur_n = [], [], 0, 0
        for i in idx:
            longest = max(cur_max, self.lengths[i])
            size = self.sizes[i] if self.sizes is not None else 1
            too_long = self.max_frames is not None and cur and longest * (len(cur) + 1) > self.max_frames
            if cur and (cur_n + size > self.batch_size or too_long):
                batches.append(cur)
                cur, longest, cur_n = [], self.lengths[i], 0
            cur.append(i)
            cur_max, cur_n = longest, cur_n + size
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
