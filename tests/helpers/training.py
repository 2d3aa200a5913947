"""Small dumped-feature corpora for training tests: real kaldiio dumps, learnable labels."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import torch

from mer.data.ark_checksum import write_checksum
from mer.data.datadir import DataDir
from mer.utils.fileio import write_json_atomic
from tests.helpers import REPO

LABELS = ["ang", "hap", "neu", "sad"]

# The environment of every command a training test runs: one thread, this checkout's package, no hub.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}


def train_cmd(root: Path, config: Path, exp: str, *extra: str, launcher=(sys.executable, "-m", "mer.bin.train")):
    return [*launcher, "--config", str(config), "--train-dir", str(root / "data/train"),
            "--valid-dir", str(root / "data/valid"), "--dumpdir", str(root / "dump"),
            "--exp-dir", str(root / exp), "--labels", str(root / "data/all/labels"), *extra]


def weights(path: Path) -> dict[str, torch.Tensor]:
    """The model weights of a checkpoint (checkpoint.pt, best.pt, epoch<k>.pt)."""
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def max_diff(a: dict, b: dict) -> float:
    """The largest absolute difference between two sets of weights with the same names."""
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def run(cmd, **kw):
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def write_dump(path: Path, mats: dict[str, np.ndarray], dim: int, num_layers: int = 1) -> None:
    path.mkdir(parents=True, exist_ok=True)
    with kaldiio.WriteHelper(f"ark,scp:{path / 'feats.ark'},{path / 'feats.scp'}") as w:
        for utt in sorted(mats):
            w(utt, mats[utt])
    write_checksum(path / "feats.ark")  # as mer.bin.dump_feats does
    (path / "utt2num_frames").write_text("".join(f"{u} {mats[u].shape[0]}\n" for u in sorted(mats)))
    write_json_atomic(path / "feats_info.json", {"dim": dim, "num_layers_stored": num_layers})


def make_corpus(root: Path, num_speakers: int = 6, utts_per_speaker: int = 20, seed: int = 0,
                audio_dim: int = 16, audio_layers: int = 2, text_dim: int = 12) -> Path:
    """data/{all,train,valid,test} (speakers 0..n-3 / n-2 / n-1) and dump/{audio,text}.

    Audio frames carry the label in one feature dimension, text tokens in another, with noise,
    so a model can learn them in a few epochs.
    """
    rng = np.random.default_rng(seed)
    all_dir = DataDir()
    audio, text = {}, {}
    for s in range(num_speakers):
        for i in range(utts_per_speaker):
            utt, y = f"spk{s}-{i:04d}", i % len(LABELS)
            all_dir.add(utt, f"spk{s}", wav=f"/nonexistent/{utt}.wav", text=f"words of {LABELS[y]}",
                        emo=LABELS[y])
            a = rng.normal(size=(int(rng.integers(8, 30)), audio_dim * audio_layers)).astype("f4")
            a[:, y] += 1.5
            t = rng.normal(size=(int(rng.integers(3, 9)), text_dim)).astype("f4")
            t[:, y] += 1.0
            audio[utt], text[utt] = a, t
    write_dump(root / "dump" / "audio", audio, audio_dim, audio_layers)
    write_dump(root / "dump" / "text", text, text_dim)
    all_dir.save(root / "data" / "all")
    (root / "data" / "all" / "labels").write_text("".join(f"{lab}\n" for lab in LABELS))
    spk = lambda u: int(u.split("-")[0][3:])  # noqa: E731
    all_dir.filter(lambda u: spk(u) < num_speakers - 2).save(root / "data" / "train")
    all_dir.filter(lambda u: spk(u) == num_speakers - 2).save(root / "data" / "valid")
    all_dir.filter(lambda u: spk(u) == num_speakers - 1).save(root / "data" / "test")
    return root


def write_config(path: Path, *, model: str = "memocmt", variant: str = "improved", aggregation: str = "mean",
                 epochs: int = 3, batch_size: int = 8, dropout: float = 0.1, extra: str = "") -> Path:
    streams = {"memocmt": "{audio: audio, text: text}", "audio_only": "{audio: audio}",
               "text_only": "{text: text}"}[model]
    path.write_text(f"""model: {{name: {model}, variant: {variant}, aggregation: {aggregation}, dim: 16, num_heads: 2,
        ffn_dim: 32, head_hidden: 16, dropout: {dropout}}}
inputs: {streams}
optim: {{lr: 3.0e-3}}
scheduler: {{name: steplr, step_size: 30, gamma: 0.1}}
train: {{epochs: {epochs}, batch_size: {batch_size}, bucketing: true, best_metric: ua}}
{extra}""")
    return path


def tiny_experiment(root: Path, aggregation: str) -> tuple[Path, Path, dict]:
    """A small dumped corpus under `root` whose dumps record their settings (as mer.bin.dump_feats
    does: fbank audio, hf-text text), and a fold dir exp/train_tiny/fold1 holding a tiny MemoCMT's
    config and classes, without a checkpoint: (corpus root, fold dir, resolved config)."""
    from mer.train.config import load_config, save_config

    root = make_corpus(root, num_speakers=3, utts_per_speaker=4)
    for name, feature in (("audio", "fbank"), ("text", "hf-text")):
        info = root / "dump" / name / "feats_info.json"
        write_json_atomic(info, {**json.loads(info.read_text()),
                                 "settings": {"feature": feature, "model": None, "layers": "last"}})
    fold = root / "exp" / "train_tiny" / "fold1"
    fold.mkdir(parents=True)
    conf = load_config(write_config(root / "tiny.yaml", aggregation=aggregation))
    save_config(conf, fold / "config.yaml")
    (fold / "classes").write_text("".join(f"{c}\n" for c in LABELS))
    return root, fold, conf


def probe_command(corpus: Path, tmp_path: Path) -> list[str]:
    """`mer.bin.combine --name linear_probe` on the corpus's audio dump, over a protocol dir
    tmp_path/data/fixed whose fold1 is the corpus's train/valid/test (made here); add --set/--out."""
    import shutil

    proto = tmp_path / "data/fixed"
    for part in ("train", "valid", "test"):
        shutil.copytree(corpus / "data" / part, proto / "fold1" / part)
    return [sys.executable, "-m", "mer.bin.combine", "--name", "linear_probe", "--set", "dump=audio",
            "--dumpdir", str(corpus / "dump"), "--protocol-dir", str(proto)]
