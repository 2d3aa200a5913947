"""Tiny random models of the real transformers classes, for tests that need an encoder (no hub)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    from transformers import AutoTokenizer, BertConfig, BertModel

    from mer.pretrained import models_dir

    if not (models_dir() / "minilm").is_dir():
        pytest.skip("tools/models/minilm is not prepared (tools/install.sh): its tokenizer is used")
    out = tmp_path_factory.mktemp("bert")
    torch.manual_seed(0)
    BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                         vocab_size=30522)).save_pretrained(out)
    AutoTokenizer.from_pretrained(str(models_dir() / "minilm")).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_speech_encoders(tmp_path_factory) -> dict[str, Path]:
    from transformers import Wav2Vec2Config, Wav2Vec2Model, WhisperConfig, WhisperFeatureExtractor, WhisperModel

    root = tmp_path_factory.mktemp("enc")
    torch.manual_seed(0)
    WhisperModel(WhisperConfig(d_model=16, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2,
                               decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                               num_mel_bins=80)).save_pretrained(root / "whisper")
    WhisperFeatureExtractor(feature_size=80).save_pretrained(root / "whisper")
    Wav2Vec2Model(Wav2Vec2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                                 conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                                 feat_extract_norm="group")).save_pretrained(root / "w2v")
    return {"whisper": root / "whisper", "w2v": root / "w2v"}


def speech_batch(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    wav = torch.zeros(len(lengths), max(lengths))
    for i, n in enumerate(lengths):
        wav[i, :n] = 0.1 * torch.randn(n, generator=g)
    return {"audio": wav, "audio_lengths": torch.tensor(lengths)}


