"""Stage 6 in one process, a demo that leaves the clone clean, the published loop timed with
MemoCMT's own encoder architectures, and the training log of fit_on train+valid."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mer.bench.published_loop import LoopTimes, Training, build_encoders, time_published_loop
from mer.data.datadir import DataDir
from tests.helpers import REPO

MINI = REPO / "egs/mini/memocmt"


def tiny_data(root: Path, n: int) -> DataDir:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    lines = {"wav.scp": [], "text": [], "utt2spk": [], "utt2emo": []}
    for i in range(n):
        utt = f"spk1_u{i}"
        wav = root / f"{utt}.wav"
        sf.write(wav, 0.1 * rng.standard_normal(4000 + 800 * i).astype(np.float32), 16000)
        lines["wav.scp"].append(f"{utt} {wav}")
        lines["text"].append(f"{utt} a short sentence number {i}")
        lines["utt2spk"].append(f"{utt} spk1")
        lines["utt2emo"].append(f"{utt} {('neu', 'hap')[i % 2]}")
    for name, rows in lines.items():
        (root / name).write_text("\n".join(rows) + "\n")
    (root / "spk2utt").write_text("spk1 " + " ".join(f"spk1_u{i}" for i in range(n)) + "\n")
    return DataDir.load(root)


def tiny_encoders():
    from transformers import BertConfig, HubertConfig

    return build_encoders(
        HubertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                     conv_dim=(16,) * 7, num_conv_pos_embeddings=16),
        BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37))


def test_speedup_counts_the_dump_once_and_training_every_epoch():
    t = LoopTimes(published=2.0, dump=1.0, train_on_dump=0.01, utts=3)
    assert t.speedup(1) == pytest.approx(2.0 / 1.01)
    assert t.speedup(100) == pytest.approx(200.0 / 2.0)
    assert t.ceiling(100) == pytest.approx(200.0)  # the training step free


def test_published_loop_times_both_ways_with_real_encoders_and_the_recipe_models(tmp_path):
    from transformers import AutoTokenizer

    from mer.pretrained import resolve_model

    data = tiny_data(tmp_path / "data", 4)
    published = Training.from_config(MINI / "conf/tuning/train_memocmt_faithful_min.yaml")
    toolkit = Training.from_config(MINI / "conf/tuning/train_memocmt_min.yaml")
    assert (published.batch_size, toolkit.batch_size) == (1, 16)
    t = time_published_loop(data, data.utts, published, toolkit, ["neu", "hap"],
                            AutoTokenizer.from_pretrained(resolve_model("minilm")), train_passes=2,
                            encoders=tiny_encoders())
    assert t.utts == 3  # the first only warms up
    assert t.published > 0 and t.dump > 0 and t.train_on_dump > 0
    assert t.speedup(100) > t.speedup(1)


def test_published_loop_needs_an_utterance_besides_the_warm_up(tmp_path):
    data = tiny_data(tmp_path / "data", 1)
    conf = Training({"name": "memocmt", "variant": "faithful"}, 1e-4)
    with pytest.raises(ValueError, match=r"data: the published loop needs at least 2 utterances"):
        time_published_loop(data, data.utts, conf, conf, ["neu", "hap"], None, encoders=tiny_encoders())


def test_published_loop_names_an_utterance_outside_the_labels(tmp_path):
    data = tiny_data(tmp_path / "data", 3)
    conf = Training({"name": "memocmt", "variant": "faithful"}, 1e-4)
    with pytest.raises(ValueError, match=r"utt2emo: utterance spk1_u1: label 'hap' is not one of"):
        time_published_loop(data, data.utts, conf, conf, ["neu", "sad"], None, encoders=tiny_encoders())
