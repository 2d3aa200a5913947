"""MemoCMT's published training loop with its own encoders against dump once, then train.

The published code (github.com/tpnam0901/MemoCMT, configs/hubert_base.py) trains at batch size 1
with HuBERT-base and BERT-base frozen (`audio_unfreeze`/`text_unfreeze` False) but inside the
model: every step reads the audio, tokenises the text, runs both encoders forward (in train mode, as
there: HuBERT's LayerDrop and time masking on), then the fusion model's forward, loss, backward and
optimiser step. This toolkit runs each encoder once per utterance (eval mode, no gradients: what
mer.bin.dump_feats computes) and trains its own configuration of the fusion model (length-bucketed
batches) on the stored features. Both encoders are built from `HubertConfig()` and `BertConfig()`
defaults with random weights: the time of a forward does not depend on the weights, and no
download is needed.
Per-utterance times are measured on a handful of utterances; the speedup over E epochs is
E x published / (dump + E x train on dumps), each per utterance.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

ENCODER_NAMES = "HuBERT-base + BERT-base"


@dataclass(frozen=True)
class LoopTimes:
    """Seconds per training utterance."""
    published: float      # encoders inside every step, then the fusion model's training step
    dump: float           # the encoders once (what the toolkit dumps)
    train_on_dump: float  # the fusion model's training step on the stored features
    utts: int

    def speedup(self, epochs: int) -> float:
        return epochs * self.published / (self.dump + epochs * self.train_on_dump)

    def ceiling(self, epochs: int) -> float:
        """The speedup with a free training step: the dump runs the encoders of one published step,
        so over E epochs no dump-once toolkit gets past E x published / dump on this device."""
        return epochs * self.published / self.dump


def build_encoders(audio_config=None, text_config=None, seed: int = 0):
    """HuBERT and BERT with random weights, frozen; by default HuBERT-base and BERT-base (their
    configurations' defaults)."""
    from transformers import BertConfig, BertModel, HubertConfig, HubertModel

    torch.manual_seed(seed)
    audio, text = HubertModel(audio_config or HubertConfig()), BertModel(text_config or BertConfig())
    for enc in (audio, text):
        enc.requires_grad_(False)
    return audio, text


@dataclass(frozen=True)
class Training:
    """A fusion model's configuration, learning rate and batch size."""
    model_conf: dict
    lr: float
    batch_size: int = 1

    @classmethod
    def from_config(cls, path: Path) -> "Training":
        from mer.train.config import load_config

        conf = load_config(path)
        return cls(conf["model"], conf["optim"]["lr"], int(conf["train"]["batch_size"]))


def time_published_loop(data, utts: list[str], published: Training, toolkit: Training, labels: list[str],
                        tokenizer, device: str = "cpu", train_passes: int = 5, encoders=None) -> LoopTimes:
    """Times both ways on `utts` of DataDir `data` (the first utterance only warms up): `published`
    trains at batch size 1 with the encoders in every step, `toolkit` on the dumped features in
    batches of its batch size; its training step is timed over `train_passes` passes. `encoders`:
    (audio, text) models, default build_encoders()."""
    from mer.data.audio import load_utterance
    from mer.inputs.dataset import pad_sequences

    if len(utts) < 2:
        raise ValueError(f"{data.source}: the published loop needs at least 2 utterances (1 warms up)")
    for utt in utts:
        if data.utt2emo.get(utt) not in labels:
            raise ValueError(f"{data.source}/utt2emo: utterance {utt}: label {data.utt2emo.get(utt)!r} is not one "
                             f"of {labels}")
    audio_enc, text_enc = (m.to(device) for m in (encoders or build_encoders()))
    dims = {"audio": audio_enc.config.hidden_size, "text": text_enc.config.hidden_size}

    def encode(utt: str) -> dict:
        wav = torch.from_numpy(load_utterance(data, utt))[None].to(device)
        ids = torch.tensor([tokenizer.encode(data.text[utt])], device=device)
        return {"audio": audio_enc(wav).last_hidden_state[0], "text": text_enc(ids).last_hidden_state[0]}

    def batch_of(feats: list[dict], batch_utts: list[str]) -> tuple[dict, torch.Tensor]:
        batch = {"dialog_lengths": torch.ones(len(feats), dtype=torch.long)}
        for name in dims:
            batch[name], batch[f"{name}_lengths"] = pad_sequences([f[name] for f in feats])
        y = torch.tensor([labels.index(data.utt2emo[u]) for u in batch_utts], device=device)
        return batch, y

    published_step, toolkit_step = train_step(published, dims, len(labels), device), \
        train_step(toolkit, dims, len(labels), device)
    dumped = {}

    def published_step_of(utt: str) -> None:
        audio_enc.train(), text_enc.train()  # the published model trains with its encoders inside
        # Frozen, they build no autograd graph there (torchaudio's HuBERT and BERT, nothing in them
        # requires a gradient). transformers' HubertModel in train mode would mark its input as
        # requiring one (for gradient checkpointing) and backpropagate through all its layers:
        # no_grad keeps the cost to what the published frozen encoders cost.
        with torch.no_grad():
            feats = encode(utt)
        published_step(*batch_of([feats], [utt]))

    def dump(utt: str) -> None:
        audio_enc.eval(), text_enc.eval()
        with torch.no_grad():
            dumped[utt] = encode(utt)

    warm, timed = utts[0], utts[1:]
    published_step_of(warm), dump(warm)
    # interleaved, utterance by utterance, so that a load that changes meanwhile (a shared machine)
    # weighs on both ways alike; the dump first, as it meets each input length first in a real run
    published_s = dump_s = 0.0
    for utt in timed:
        dump_s += per_utt(dump, [utt], device) / len(timed)
        published_s += per_utt(published_step_of, [utt], device) / len(timed)
    # one full batch, the handful of utterances repeated to its size (a training set fills them)
    items = [timed[i % len(timed)] for i in range(toolkit.batch_size)]
    batch = batch_of([dumped[u] for u in items], items)
    toolkit_step(*batch)
    train_s = per_utt(lambda b: toolkit_step(*b), [batch] * train_passes, device) / toolkit.batch_size
    return LoopTimes(published_s, dump_s, train_s, len(timed))


def train_step(training: Training, dims: dict, num_classes: int, device: str):
    """A function (batch, labels) -> None that takes one optimiser step of a fresh fusion model."""
    from mer.models import build_model
    from mer.inputs import InputInfo

    torch.manual_seed(0)
    model = build_model(training.model_conf, num_classes, {k: InputInfo("dump", dim=d) for k, d in dims.items()})
    model = model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=training.lr)

    def step(batch: dict, y: torch.Tensor) -> None:
        loss = model.loss(model(batch), y).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def per_utt(fn, items: list, device: str) -> float:
    """Mean seconds of fn(item) over items."""
    sync(device)
    t0 = time.perf_counter()
    for item in items:
        fn(item)
    sync(device)
    return (time.perf_counter() - t0) / len(items)


def sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def published_loop_times(recipe: Path, published_config: str, toolkit_config: str, n_utts: int,
                         device: str = "cpu") -> LoopTimes:
    """On the recipe's fold1 training set: `published_config`'s fusion model (MemoCMT as published)
    in the published loop, `toolkit_config`'s on dumps; text tokenised with the BERT tokeniser of
    the `minilm` encoder (BERT-base's uncased WordPiece vocabulary, the same token count)."""
    from transformers import AutoTokenizer

    from mer.data.datadir import DataDir
    from mer.pretrained import resolve_model

    train = DataDir.load(next(iter(sorted((recipe / "data").glob("*/fold1")))) / "train")
    labels = (recipe / "data/all/labels").read_text().split()
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    return time_published_loop(train, train.utts[: n_utts + 1], Training.from_config(recipe / published_config),
                               Training.from_config(recipe / toolkit_config), labels, tokenizer, device)
