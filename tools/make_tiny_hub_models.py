#!/usr/bin/env python3
"""Tiny, randomly initialised stand-ins for the hub models the recipes name, in the Hugging Face cache.

    python tools/make_tiny_hub_models.py                       # the default hub ids, into $HF_HOME/hub
    python tools/make_tiny_hub_models.py --models bert-base-uncased roberta-base --hf_home /tmp/hf

Each stand-in has the real checkpoint's transformers class and config type (so `AutoModel`,
`AutoConfig` and the model classes resolve exactly as they do for the real one), a tokenizer of the
real one's type (BERT WordPiece, RoBERTa byte-level BPE, wav2vec 2.0 CTC characters, Whisper's own
tokenizer files) and its feature extractor, but a few small layers and random weights. It is placed
where `from_pretrained("<hub id>")` looks with HF_HUB_OFFLINE=1: `$HF_HOME/hub/models--ORG--NAME/`
(`blobs/`, `refs/main`, `snapshots/<revision>/`), the layout the hub client writes.

Use it to smoke-test a recipe end to end before spending GPU hours on the real models:

    HF_HOME=/tmp/tiny_hf python tools/make_tiny_hub_models.py
    cd egs/iemocap/memocmt && HF_HOME=/tmp/tiny_hf HF_HUB_OFFLINE=1 ./run.sh --train_args "train.epochs=1"

Numbers from such a run mean nothing: the encoders are random. A real download in the same
HF_HOME would be shadowed only until the hub is reachable again (refs/main is then refreshed), so
keep a separate HF_HOME for the stand-ins.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WHISPER_EN_DIR = REPO / "tools" / "models" / "whisper-tiny.en"  # real English Whisper tokenizer files

DEFAULT_MODELS = (
    "facebook/hubert-base-ls960",
    "bert-base-uncased",
    "microsoft/wavlm-base",
    "roberta-base",
    "facebook/wav2vec2-base",
    "facebook/wav2vec2-base-960h",
    "openai/whisper-small.en",
)

# Words the tiny tokenizers learn pieces from (any text still tokenises: characters are in both vocabularies).
TEXT_SAMPLE = (
    "i am so happy today . that is great news ! why did you do that ? i do not know . "
    "we are going to the beach tomorrow . i hate this , it is not fair . oh my god , really ? "
    "yeah , okay , fine . what are you talking about ? i love you . leave me alone . "
    "she was sad and angry and surprised . he is excited , neutral , frustrated , calm . "
)

# The conv front end of the base speech models: strides multiply to 320 samples, 20 ms at 16 kHz.
SSL_FRONT_END = dict(conv_kernel=[10, 3, 3, 3, 3, 2, 2], conv_stride=[5, 2, 2, 2, 2, 2, 2],
                     conv_dim=[32] * 7, feat_extract_norm="group", do_stable_layer_norm=False)
SSL_TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, **SSL_FRONT_END)
TEXT_TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
CTC_CHARS = ["<pad>", "<s>", "</s>", "<unk>", "|", *"ETAONIHSRDLUMWCFGYPBVK'XJQZ"]


def _ssl_feature_extractor(do_normalize: bool, return_attention_mask: bool):
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                    do_normalize=do_normalize, return_attention_mask=return_attention_mask)


def _hubert(out: Path) -> None:
    from transformers import HubertConfig, HubertModel

    HubertModel(HubertConfig(**SSL_TINY)).save_pretrained(out)
    _ssl_feature_extractor(False, False).save_pretrained(out)


def _wavlm(out: Path) -> None:
    from transformers import WavLMConfig, WavLMModel

    WavLMModel(WavLMConfig(**SSL_TINY, num_buckets=32, max_bucket_distance=800)).save_pretrained(out)
    _ssl_feature_extractor(False, True).save_pretrained(out)


def _wav2vec2(out: Path) -> None:
    from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining

    config = Wav2Vec2Config(**SSL_TINY, codevector_dim=16, proj_codevector_dim=16, num_codevectors_per_group=8)
    Wav2Vec2ForPreTraining(config).save_pretrained(out)
    _ssl_feature_extractor(True, False).save_pretrained(out)


def _wav2vec2_ctc(out: Path) -> None:
    from transformers import (Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2ForCTC, Wav2Vec2Processor)

    with tempfile.TemporaryDirectory() as tmp:
        vocab = Path(tmp) / "vocab.json"
        vocab.write_text(json.dumps({c: i for i, c in enumerate(CTC_CHARS)}))
        tokenizer = Wav2Vec2CTCTokenizer(str(vocab), unk_token="<unk>", pad_token="<pad>",
                                         word_delimiter_token="|", do_lower_case=False)
    config = Wav2Vec2Config(**SSL_TINY, vocab_size=len(CTC_CHARS), pad_token_id=0, bos_token_id=1,
                            eos_token_id=2, ctc_loss_reduction="sum")
    Wav2Vec2ForCTC(config).save_pretrained(out)
    Wav2Vec2Processor(feature_extractor=_ssl_feature_extractor(True, False), tokenizer=tokenizer).save_pretrained(out)


def _bert(out: Path) -> None:
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    chars = sorted(set("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-\"():;"))
    words = sorted(set(TEXT_SAMPLE.split()) - set(chars))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars), *words]
    BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True).save_pretrained(out)
    BertForMaskedLM(BertConfig(vocab_size=len(vocab), max_position_embeddings=512, **TEXT_TINY)).save_pretrained(out)


def _roberta(out: Path) -> None:
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaForMaskedLM, RobertaTokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([TEXT_SAMPLE] * 4, vocab_size=400, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    with tempfile.TemporaryDirectory() as tmp:
        bpe.save_model(tmp)
        vocab = json.loads((Path(tmp) / "vocab.json").read_text())
        merges = [tuple(m.split(" ")) for m in (Path(tmp) / "merges.txt").read_text().splitlines()
                  if m and not m.startswith("#")]
    tokenizer = RobertaTokenizer(vocab=vocab, merges=merges)
    tokenizer.save_pretrained(out)
    # 514 positions as in roberta-base: RoBERTa's position ids start after the padding index.
    config = RobertaConfig(vocab_size=len(tokenizer), max_position_embeddings=514, pad_token_id=1, bos_token_id=0,
                           eos_token_id=2, type_vocab_size=1, **TEXT_TINY)
    RobertaForMaskedLM(config).save_pretrained(out)


def _whisper_en(out: Path) -> None:
    """English-only Whisper: the real tokenizer and feature extractor of whisper-tiny.en (the same as
    small.en's); 80 mel bins and the 1500 encoder positions of the 30 s window kept."""
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration, WhisperProcessor

    if not (WHISPER_EN_DIR / "tokenizer.json").is_file():
        sys.exit(f"make_tiny_hub_models: Whisper's tokenizer is read from {WHISPER_EN_DIR}; "
                 f"run tools/prepare_models.sh first")
    processor = WhisperProcessor.from_pretrained(WHISPER_EN_DIR)
    real = WhisperConfig.from_pretrained(WHISPER_EN_DIR)
    config = WhisperConfig(vocab_size=real.vocab_size, num_mel_bins=real.num_mel_bins, d_model=64,
                           encoder_layers=2, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
                           encoder_ffn_dim=128, decoder_ffn_dim=128, max_source_positions=real.max_source_positions,
                           max_target_positions=real.max_target_positions, pad_token_id=real.pad_token_id,
                           bos_token_id=real.bos_token_id, eos_token_id=real.eos_token_id,
                           decoder_start_token_id=real.decoder_start_token_id)
    model = WhisperForConditionalGeneration(config)
    generation = GenerationConfig.from_pretrained(WHISPER_EN_DIR)
    generation.alignment_heads = [[1, 0]]  # the real ones name layers this model does not have
    # Random weights rarely emit the end token: a short cap keeps decoding (stage 2's ASR dump) quick.
    generation.max_length = 24
    model.generation_config = generation
    model.save_pretrained(out)
    processor.save_pretrained(out)


BUILDERS = {
    "facebook/hubert-base-ls960": _hubert,
    "bert-base-uncased": _bert,
    "microsoft/wavlm-base": _wavlm,
    "roberta-base": _roberta,
    "facebook/wav2vec2-base": _wav2vec2,
    "facebook/wav2vec2-base-960h": _wav2vec2_ctc,
    "openai/whisper-small.en": _whisper_en,
}


def _revision(files: list[Path], root: Path) -> str:
    """A 40-hex revision from the files' names and contents (a rebuild of the same files keeps it)."""
    h = hashlib.sha1()
    for f in files:
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def place_in_cache(src: Path, repo_id: str, hub_cache: Path) -> Path:
    """Copy the files of `src` into the hub cache as the hub client lays out a download: content in
    blobs/<sha256>, snapshots/<revision>/<file> relative symlinks to them, refs/main = revision.
    Returns the snapshot directory."""
    repo_dir = hub_cache / ("models--" + repo_id.replace("/", "--"))
    files = sorted(p for p in src.rglob("*") if p.is_file())
    revision = _revision(files, src)
    snapshot = repo_dir / "snapshots" / revision
    (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    # built beside its final place, so that the relative links stay right after the rename
    tmp_snapshot = Path(tempfile.mkdtemp(dir=snapshot.parent, prefix=".tmp."))
    for f in files:
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        blob = repo_dir / "blobs" / digest
        if not blob.exists():
            shutil.copyfile(f, blob.with_suffix(".incomplete"))
            os.replace(blob.with_suffix(".incomplete"), blob)
        link = tmp_snapshot / f.relative_to(src)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    if snapshot.exists():
        shutil.rmtree(snapshot)
    os.replace(tmp_snapshot, snapshot)
    (repo_dir / "refs").mkdir(exist_ok=True)
    ref_tmp = repo_dir / "refs" / ".main.tmp"
    ref_tmp.write_text(revision)
    os.replace(ref_tmp, repo_dir / "refs" / "main")
    return snapshot


def hub_cache_dir(hf_home: str | None) -> Path:
    home = hf_home or os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def make_tiny_models(models, hub_cache: Path, seed: int = 0) -> dict[str, Path]:
    import torch

    unknown = [m for m in models if m not in BUILDERS]
    if unknown:
        raise ValueError(f"no tiny stand-in for {unknown}; known: {sorted(BUILDERS)}")
    made = {}
    for repo_id in models:
        torch.manual_seed(seed)
        with tempfile.TemporaryDirectory() as tmp:
            BUILDERS[repo_id](Path(tmp))
            made[repo_id] = place_in_cache(Path(tmp), repo_id, hub_cache)
    return made


def check_cache(hub_cache: Path, models) -> list[str]:
    """Problems huggingface_hub's own cache scan finds for `models` (empty: every one is a valid repo)."""
    from huggingface_hub import scan_cache_dir

    info = scan_cache_dir(hub_cache)
    problems = [f"{w}" for w in info.warnings]
    found = {r.repo_id: r for r in info.repos if r.repo_type == "model"}
    for m in models:
        repo = found.get(m)
        if repo is None:
            problems.append(f"{m}: not in {hub_cache}")
        elif not any("main" in rev.refs for rev in repo.revisions):
            problems.append(f"{m}: no revision is refs/main")
    return problems


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), metavar="HUB_ID",
                   help=f"hub ids to make (default: all: {' '.join(DEFAULT_MODELS)})")
    p.add_argument("--hf_home", default=None, help="HF_HOME to write under (default: $HF_HOME or ~/.cache/huggingface)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    hub_cache = hub_cache_dir(args.hf_home)
    try:
        made = make_tiny_models(args.models, hub_cache, args.seed)
    except ValueError as e:
        print(f"make_tiny_hub_models: {e}", file=sys.stderr)
        return 2
    problems = check_cache(hub_cache, args.models)
    if problems:
        print("make_tiny_hub_models: the cache scan found problems:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    for repo_id, snapshot in made.items():
        print(f"{repo_id}\t{snapshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
