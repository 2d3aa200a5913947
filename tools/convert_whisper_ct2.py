"""Convert a CTranslate2 (faster-whisper) Whisper model into a transformers directory.

Usage:
  python tools/convert_whisper_ct2.py CT2_DIR OUT_DIR

CT2_DIR holds model.bin (CTranslate2 binary version 5-6), usually config.json and tokenizer.json.
OUT_DIR becomes a float32 `WhisperForConditionalGeneration` directory with its feature extractor
and tokenizer, written beside its place and renamed into it, with the completeness marker that
`mer.pretrained.resolve_model` checks. transformers cannot read CT2 files, so `read_ct2_model`
parses them (layout in the comments below) and the fused attention projections are split.

This is an installer step (tools/prepare_models.sh); nothing in the `mer` package imports it.
"""
from __future__ import annotations

import json
import os
import re
import struct
import sys
from pathlib import Path
from typing import BinaryIO

import numpy as np

from modeldir import staging_dir, write_marker


class ConversionError(RuntimeError):
    """A CTranslate2 model cannot be converted to transformers' Whisper."""


class CT2FormatError(ValueError):
    """A CTranslate2 model.bin is malformed."""


# --------------------------------------------------------------------------- CT2 model.bin parser

# The layout read below (dtype id + byte count per variable) is that of binary versions 5 and 6;
# 6 is the newest known (ctranslate2 4.x) and a newer layout may differ, so it is refused.
CT2_MIN_BINARY_VERSION = 5
CT2_MAX_BINARY_VERSION = 6
# DataType enum of include/ctranslate2/types.h; bfloat16 has no numpy type: widened to float32.
CT2_DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"), 1: np.dtype("i1"), 2: np.dtype("<i2"), 3: np.dtype("<i4"),
    4: np.dtype("<f2"), 5: np.dtype("<u2"),
}
CT2_BFLOAT16 = 5


class _Reader:
    """Little-endian reads that name the file and offset when the file ends early."""

    def __init__(self, f: BinaryIO, path: Path):
        self.f, self.path = f, path

    def error(self, what: str) -> CT2FormatError:
        return CT2FormatError(f"{self.path}: {what} (at byte {self.f.tell()})")

    def bytes(self, n: int, what: str) -> bytes:
        b = self.f.read(n)
        if len(b) != n:
            raise self.error(f"truncated CTranslate2 model file: {what} needs {n} bytes, "
                             f"{len(b)} left")
        return b

    def unpack(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.bytes(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        n = self.unpack("H", f"length of {what}")
        raw = self.bytes(n, what)
        if n == 0 or raw[-1] != 0:
            raise self.error(f"{what} is not a NUL-terminated string")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError:
            raise self.error(f"{what} is not valid UTF-8") from None

    def at_end(self) -> bool:
        pos = self.f.tell()
        end = self.f.seek(0, os.SEEK_END)
        self.f.seek(pos)
        return pos == end


def read_ct2_model(path: str | os.PathLike) -> tuple[str, dict[str, np.ndarray]]:
    """Parse a CTranslate2 `model.bin` (binary version 5-6) into (spec name, {variable: array}).

    Arrays keep their stored dtype (float16, int8, ...) except bfloat16, which is widened to
    float32. Aliases (e.g. a projection tied to the embeddings) map to the same array object.
    A directory is accepted and means its model.bin.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.bin"
    try:
        f = open(path, "rb")
    except OSError as e:
        raise CT2FormatError(f"{path}: cannot open CTranslate2 model file: {e.strerror}") from None
    with f:
        r = _Reader(f, path)
        version = r.unpack("I", "binary version")
        if not CT2_MIN_BINARY_VERSION <= version <= CT2_MAX_BINARY_VERSION:
            raise CT2FormatError(
                f"{path}: not a supported CTranslate2 model file: binary version {version}, "
                f"expected {CT2_MIN_BINARY_VERSION}..{CT2_MAX_BINARY_VERSION}")
        spec = r.string("spec name")
        r.unpack("I", "spec revision")
        n_vars = r.unpack("I", "number of variables")
        variables: dict[str, np.ndarray] = {}
        for i in range(n_vars):
            name = r.string(f"name of variable {i}")
            rank = r.unpack("B", f"rank of {name}")
            shape = tuple(r.unpack("I", f"dimension of {name}") for _ in range(rank))
            type_id = r.unpack("B", f"dtype of {name}")
            if type_id not in CT2_DTYPES:
                raise r.error(f"variable {name} has unknown dtype id {type_id}")
            dtype = CT2_DTYPES[type_id]
            n_bytes = r.unpack("I", f"byte count of {name}")
            count = int(np.prod(shape, dtype=np.int64))
            if n_bytes != count * dtype.itemsize:
                raise r.error(f"variable {name}: {n_bytes} bytes do not match shape {shape} "
                              f"of {dtype.itemsize}-byte items")
            arr = np.empty(count, dtype=dtype)
            got = f.readinto(arr.view(np.uint8))  # one copy, straight into an aligned array
            if got != n_bytes:
                raise r.error(f"truncated CTranslate2 model file: variable {name} needs "
                              f"{n_bytes} bytes, {got} left")
            if type_id == CT2_BFLOAT16:  # bfloat16 is the top half of a float32
                arr = (arr.astype(np.uint32) << 16).view(np.float32)
            variables[name] = arr.reshape(shape)
        if r.at_end():  # aliases are optional for the reader
            return spec, variables
        for _ in range(r.unpack("I", "number of aliases")):
            alias = r.string("alias name")
            target = r.string(f"target of alias {alias}")
            if target not in variables:
                raise r.error(f"alias {alias} points to unknown variable {target}")
            variables[alias] = variables[target]
        if not r.at_end():
            raise r.error("unexpected bytes after the aliases")
    return spec, variables


# --------------------------------------------------------------------------- Whisper conversion

_LAYER_RE = re.compile(r"^(encoder|decoder)/layer_(\d+)/")
# CT2 runtime settings with no transformers counterpart: alignment heads (taken from config.json
# instead) and ALiBi options, which mean nothing once decoder/alibi is checked to be off.
_CT2_RUNTIME_ONLY = ("decoder/alignment_heads", "decoder/alignment_layer",
                     "decoder/alibi_use_positive_positions", "decoder/scale_alibi")
_CT2_GELU = 3  # common_spec.Activation.GELU


def _scalar(variables: dict[str, np.ndarray], name: str) -> np.ndarray | None:
    v = variables.get(name)
    return None if v is None else v.reshape(())


def _count_layers(variables: dict[str, np.ndarray], stack: str, path: Path) -> int:
    ids = {int(m.group(2)) for n in variables if (m := _LAYER_RE.match(n)) and m.group(1) == stack}
    if not ids or ids != set(range(len(ids))):
        raise ConversionError(f"{path}: {stack} layers are missing or not numbered 0..N-1: "
                              f"{sorted(ids)}")
    return len(ids)


def _special_ids(vocab_size: int, path: Path) -> dict[str, int]:
    # Whisper's token layout: English-only models end the GPT-2 vocabulary with <|endoftext|>
    # (50256) and start transcripts with 50257; multilingual ones insert one token first.
    if vocab_size == 51864:
        return dict(eos=50256, pad=50256, bos=50257, start=50257, no_timestamps=50362)
    if vocab_size in (51865, 51866):
        return dict(eos=50257, pad=50257, bos=50257, start=50258, no_timestamps=50363)
    raise ConversionError(f"{path}: vocabulary size {vocab_size} is not a Whisper vocabulary "
                          f"(51864 English-only, 51865/51866 multilingual)")


def whisper_config_from_ct2(variables: dict[str, np.ndarray], path: Path):
    """A transformers WhisperConfig whose sizes are read off the CT2 tensor shapes."""
    from transformers import WhisperConfig

    for name in ("encoder/conv1/weight", "decoder/embeddings/weight",
                 "encoder/position_encodings/encodings", "decoder/position_encodings/encodings",
                 "encoder/layer_0/ffn/linear_0/weight", "decoder/layer_0/ffn/linear_0/weight"):
        if name not in variables:
            raise ConversionError(f"{path}: variable {name} is missing; not a Whisper model")
    d_model, n_mels, _ = variables["encoder/conv1/weight"].shape
    vocab_size = variables["decoder/embeddings/weight"].shape[0]
    heads = {}
    for stack in ("encoder", "decoder"):
        stored = _scalar(variables, f"{stack}/num_heads")
        # Every Whisper size uses 64-dimensional heads; the stored count, where present, decides.
        heads[stack] = int(stored) if stored is not None else d_model // 64
        if heads[stack] <= 0 or d_model % heads[stack]:
            raise ConversionError(f"{path}: {stack} has {heads[stack]} heads for d_model {d_model}")
    ids = _special_ids(vocab_size, path)
    return WhisperConfig(
        vocab_size=vocab_size, num_mel_bins=n_mels, d_model=d_model,
        encoder_layers=_count_layers(variables, "encoder", path),
        decoder_layers=_count_layers(variables, "decoder", path),
        encoder_attention_heads=heads["encoder"], decoder_attention_heads=heads["decoder"],
        encoder_ffn_dim=variables["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        decoder_ffn_dim=variables["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_source_positions=variables["encoder/position_encodings/encodings"].shape[0],
        max_target_positions=variables["decoder/position_encodings/encodings"].shape[0],
        pad_token_id=ids["pad"], bos_token_id=ids["bos"], eos_token_id=ids["eos"],
        decoder_start_token_id=ids["start"],
        # decoding settings go to generation_config.json only (transformers warns about both)
        suppress_tokens=None, begin_suppress_tokens=None,
        scale_embedding=False, tie_word_embeddings=True, activation_function="gelu",
    )


def _check_ct2_whisper_settings(variables: dict[str, np.ndarray], path: Path) -> set[str]:
    """Check the CT2 decoder flags match what transformers' Whisper computes; return their names."""
    flags = {
        "decoder/activation": lambda v: int(v) == _CT2_GELU,
        "decoder/pre_norm": lambda v: bool(v),
        "decoder/alibi": lambda v: not bool(v),
        "decoder/start_from_zero_embedding": lambda v: not bool(v),
        # int8 is a bool ("multiply by sqrt(d_model)"); a float is the factor itself
        "decoder/scale_embeddings": lambda v: (float(v) == 1.0 if v.dtype.kind == "f"
                                               else not bool(v)),
    }
    for name, ok in flags.items():
        v = _scalar(variables, name)
        if v is not None and not ok(v):
            raise ConversionError(f"{path}: {name} = {v} is not what transformers' Whisper does")
    return set(flags)


def _build_state_dict(variables: dict[str, np.ndarray], config, path: Path):
    """Map CT2 variables to WhisperForConditionalGeneration parameters (float32 torch tensors)."""
    import torch

    remaining = dict(variables)
    sd: dict[str, torch.Tensor] = {}

    def take(name: str) -> np.ndarray:
        if name not in remaining:
            raise ConversionError(f"{path}: variable {name} is missing")
        return remaining.pop(name)

    def put(hf: str, arr: np.ndarray) -> None:
        sd[hf] = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))

    def linear(ct2: str, hf: str) -> None:
        put(f"{hf}.weight", take(f"{ct2}/weight"))
        put(f"{hf}.bias", take(f"{ct2}/bias"))

    def norm(ct2: str, hf: str) -> None:
        put(f"{hf}.weight", take(f"{ct2}/gamma"))
        put(f"{hf}.bias", take(f"{ct2}/beta"))

    def split_linear(ct2: str, hf_prefix: str, parts: tuple[str, ...]) -> None:
        # CT2 fuses projections along the output dim; Whisper's k projection has no bias (CT2
        # stores zeros there; a k bias cannot change attention anyway: it shifts every score
        # of a query by the same amount, which softmax ignores).
        w, b = take(f"{ct2}/weight"), take(f"{ct2}/bias")
        for part, w_i, b_i in zip(parts, np.split(w, len(parts)), np.split(b, len(parts))):
            put(f"{hf_prefix}.{part}_proj.weight", w_i)
            if part != "k":
                put(f"{hf_prefix}.{part}_proj.bias", b_i)

    for stack, n_layers in (("encoder", config.encoder_layers), ("decoder", config.decoder_layers)):
        hf = f"model.{stack}"
        put(f"{hf}.embed_positions.weight", take(f"{stack}/position_encodings/encodings"))
        norm(f"{stack}/layer_norm", f"{hf}.layer_norm")
        for i in range(n_layers):
            c, h = f"{stack}/layer_{i}", f"{hf}.layers.{i}"
            split_linear(f"{c}/self_attention/linear_0", f"{h}.self_attn", ("q", "k", "v"))
            linear(f"{c}/self_attention/linear_1", f"{h}.self_attn.out_proj")
            norm(f"{c}/self_attention/layer_norm", f"{h}.self_attn_layer_norm")
            if stack == "decoder":
                split_linear(f"{c}/attention/linear_0", f"{h}.encoder_attn", ("q",))
                split_linear(f"{c}/attention/linear_1", f"{h}.encoder_attn", ("k", "v"))
                linear(f"{c}/attention/linear_2", f"{h}.encoder_attn.out_proj")
                norm(f"{c}/attention/layer_norm", f"{h}.encoder_attn_layer_norm")
            linear(f"{c}/ffn/linear_0", f"{h}.fc1")
            linear(f"{c}/ffn/linear_1", f"{h}.fc2")
            norm(f"{c}/ffn/layer_norm", f"{h}.final_layer_norm")
    linear("encoder/conv1", "model.encoder.conv1")
    linear("encoder/conv2", "model.encoder.conv2")
    embeddings = take("decoder/embeddings/weight")
    put("model.decoder.embed_tokens.weight", embeddings)
    projection = remaining.pop("decoder/projection/weight", embeddings)
    if projection is not embeddings and not np.array_equal(projection, embeddings):
        raise ConversionError(f"{path}: decoder/projection/weight differs from the embeddings; "
                              f"transformers' Whisper ties them")
    bias = remaining.pop("decoder/projection/bias", None)
    if bias is not None and np.any(bias):
        raise ConversionError(f"{path}: decoder/projection/bias is non-zero; transformers' "
                              f"Whisper has no output bias")
    for name in ("encoder/num_heads", "decoder/num_heads", *_CT2_RUNTIME_ONLY,
                 *_check_ct2_whisper_settings(variables, path)):
        remaining.pop(name, None)
    if remaining:
        raise ConversionError(f"{path}: {len(remaining)} CTranslate2 variables have no place in "
                              f"WhisperForConditionalGeneration: {', '.join(sorted(remaining))}")
    return sd


def _whisper_tokenizer(ct2_dir: Path):
    """A transformers Whisper tokenizer built offline from the CT2 directory's tokenizer.json."""
    import transformers

    tokenizer_file = ct2_dir / "tokenizer.json"
    if not tokenizer_file.is_file():
        return None
    # transformers 4.x: the fast class takes tokenizer_file; 5.x: WhisperTokenizer is the fast one.
    cls = getattr(transformers, "WhisperTokenizerFast", None) or transformers.WhisperTokenizer
    return cls(tokenizer_file=str(tokenizer_file), pad_token="<|endoftext|>")


def _whisper_generation_config(config, ct2_config: dict, tokenizer):
    from transformers import GenerationConfig

    ids = _special_ids(config.vocab_size, Path("."))  # the size was checked when config was made
    gen = GenerationConfig(
        decoder_start_token_id=config.decoder_start_token_id, bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id,
        max_length=config.max_target_positions,
        # CT2's config.json carries Whisper's decoding suppressions; same defaults as openai's
        suppress_tokens=ct2_config.get("suppress_ids"),
        begin_suppress_tokens=ct2_config.get("suppress_ids_begin", [220, config.eos_token_id]),
        no_timestamps_token_id=ids["no_timestamps"], is_multilingual=config.vocab_size != 51864,
    )
    if ct2_config.get("alignment_heads"):
        gen.alignment_heads = [list(h) for h in ct2_config["alignment_heads"]]
    if tokenizer is not None:  # trust the tokenizer over the layout rule where it knows the token
        nt = tokenizer.convert_tokens_to_ids("<|notimestamps|>")
        if isinstance(nt, int) and nt != tokenizer.unk_token_id:
            gen.no_timestamps_token_id = nt
    return gen


def convert_whisper_ct2(ct2_dir: str | os.PathLike, out_dir: str | os.PathLike,
                        **marker_info) -> Path:
    """Convert a CTranslate2 Whisper directory into a transformers one (float32), atomically.

    `out_dir` gets the model (config.json, model.safetensors, generation_config.json), a
    WhisperFeatureExtractor and, where tokenizer.json is there, the tokenizer, then a marker
    recording `source` (default: `ct2_dir`) and any other `marker_info`.
    """
    import torch
    from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

    ct2_dir, out_dir = Path(ct2_dir), Path(out_dir)
    model_bin = ct2_dir / "model.bin"
    spec, variables = read_ct2_model(model_bin)
    if spec != "WhisperSpec":
        raise ConversionError(f"{model_bin}: spec {spec!r} is not WhisperSpec")
    ct2_config: dict = {}
    if (ct2_dir / "config.json").is_file():
        try:
            ct2_config = json.loads((ct2_dir / "config.json").read_text())
        except ValueError as e:
            raise ConversionError(f"{ct2_dir / 'config.json'}: not valid JSON: {e}") from None
    config = whisper_config_from_ct2(variables, model_bin)
    sd = _build_state_dict(variables, config, model_bin)
    del variables

    with torch.device("cpu"):
        model = WhisperForConditionalGeneration(config).eval()
    sd["proj_out.weight"] = sd["model.decoder.embed_tokens.weight"]  # tied
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ConversionError(f"{model_bin}: conversion left parameters unset {missing} "
                              f"or unplaced {unexpected}")
    tokenizer = _whisper_tokenizer(ct2_dir)
    model.generation_config = _whisper_generation_config(config, ct2_config, tokenizer)
    feature_extractor = WhisperFeatureExtractor(feature_size=config.num_mel_bins)

    with staging_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        feature_extractor.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        files = [p.name for p in tmp.iterdir() if p.is_file()]
        write_marker(tmp, files, **{"source": str(ct2_dir), **marker_info},
                     converted_from="ctranslate2 model.bin")
    return out_dir



def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ct2_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here needs the hub
    try:
        convert_whisper_ct2(args.ct2_dir, args.out_dir)
    except (ConversionError, CT2FormatError) as e:
        print(f"convert_whisper_ct2: error: {e}", file=sys.stderr)
        return 1
    print(args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
