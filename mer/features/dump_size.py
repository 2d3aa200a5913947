"""A dump's expected size before it is made, and a refusal when its disk cannot hold it.

Expected bytes = rows x values per row x bytes per value, plus a per-utterance header, plus a
margin. Rows: the data dir's total duration (mer.data.durations: utt2dur, segments, reco2dur or the
audio headers; nothing decoded) x the feature's frame rate; one per utterance for utterance-level
features; tokens for text encoders. Values per row: dim x stored layers. Encoders are not loaded:
their config (and a text encoder's tokenizer) say what is needed.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from mer.data.datadir import DataDir
from mer.data.durations import durations
from mer.features import needs_model
from mer.features.dump_dtype import bytes_per_value
from mer.features.layers import parse_layers

MARGIN = 0.10                  # on top of the estimate: frames rounding up, scp and log files
BYTES_PER_UTTERANCE = 200      # key, matrix header (a float16 NumPy header is ~130 bytes), scp line
TEXT_MAX_TOKENS = 512          # mer.features.hf.HFTextEncoder's truncation


@dataclass
class Geometry:
    values_per_row: int              # dim x layers stored
    rows_per_second: float | None    # frame-level audio features; None: rows per utterance below
    rows: dict[str, int] | None = None  # text: tokens per utterance; None with no rate: one row each


@dataclass
class Estimate:
    out_dir: Path
    bytes: int                 # the whole dump, margin included
    present: int               # bytes of arks already in out_dir (a resumed dump)
    what: str                  # how it was computed, for the message
    complete: bool = False     # out_dir holds a finished dump: a re-run writes nothing new

    @property
    def needed(self) -> int:
        return 0 if self.complete else max(0, self.bytes - self.present)


def _speech_geometry(args) -> Geometry:
    from transformers import AutoConfig

    from mer.features.hf import conv_front_end_geometry
    from mer.pretrained import resolve_model

    config = AutoConfig.from_pretrained(str(resolve_model(needs_model(args.feature, args.model))))
    if config.model_type == "whisper":
        dim, n_states, rate = config.d_model, config.encoder_layers + 1, 50.0  # 20 ms frames
    else:
        dim, n_states = config.hidden_size, config.num_hidden_layers + 1
        rate = 16000 / conv_front_end_geometry(config)[1]
    return Geometry(dim * len(parse_layers(str(args.layers), n_states)), rate)


def _text_geometry(args, data: DataDir) -> Geometry:
    from transformers import AutoConfig, AutoTokenizer

    from mer.data.kaldi_io import read_kv
    from mer.pretrained import resolve_model

    source = str(resolve_model(needs_model(args.feature, args.model)))
    config = AutoConfig.from_pretrained(source)
    texts = read_kv(args.text_file, allow_empty_value=True) if args.text_file and Path(args.text_file).is_file() \
        else data.text
    tokenizer = AutoTokenizer.from_pretrained(source)
    ids = tokenizer(list(texts.values()), truncation=True, max_length=TEXT_MAX_TOKENS)["input_ids"] if texts else []
    n_states = config.num_hidden_layers + 1
    return Geometry(config.hidden_size * len(parse_layers(str(args.layers), n_states)), None,
                    {u: len(i) for u, i in zip(texts, ids)})


def _signal_geometry(args) -> Geometry:
    from mer.features import build_extractor

    info = build_extractor(args.feature, num_mel_bins=args.num_mel_bins).info()  # no model: cheap
    if info.get("unit") == "utterance":
        return Geometry(int(info["dim"]), None)
    return Geometry(int(info["dim"]), 1000.0 / float(info["frame_shift_ms"]))


def geometry(args, data: DataDir) -> Geometry:
    """What one dump's matrices hold, from dump_feats' options (`args`)."""
    if args.feature == "hf":
        return _speech_geometry(args)
    if args.feature == "hf-text":
        return _text_geometry(args, data)
    return _signal_geometry(args)


def estimate(args, data: DataDir) -> Estimate:
    """The expected size of dump_feats' `args.out_dir` for `data` (ValueError/OSError: unknown)."""
    out_dir = Path(args.out_dir)
    present = sum(p.stat().st_size for p in out_dir.rglob("*.ark")) if out_dir.is_dir() else 0
    complete = (out_dir / "feats_info.json").is_file() and (out_dir / "feats.scp").is_file()
    if args.feature == "asr":  # a transcription: text only
        return Estimate(out_dir, 0, present, "a transcription (text only)", complete)
    geo = geometry(args, data)
    width = bytes_per_value(args.dtype, args.compress)
    utts = data.utts
    if geo.rows_per_second is not None:
        dur = durations(data, utts)
        rows = dur.estimated_seconds * geo.rows_per_second
        what = (f"{len(utts)} utterances, {dur.estimated_seconds:.0f} s ({dur.estimated_seconds / 3600:.2f} h) of audio"
                f"{f' ({len(dur.unknown)} of unknown length counted at the mean)' if dur.unknown else ''}"
                f" x {geo.rows_per_second:g} frames/s")
    elif geo.rows is not None:
        rows = sum(geo.rows.get(u, 0) for u in utts)
        what = f"{len(utts)} utterances, {rows} tokens"
    else:
        rows = len(utts)
        what = f"{len(utts)} utterances, one row each"
    what += f" x {geo.values_per_row} values x {width} bytes ({args.dtype if not args.compress else 'compressed'})"
    size = (rows * geo.values_per_row * width + len(utts) * BYTES_PER_UTTERANCE) * (1 + MARGIN)
    return Estimate(out_dir, int(size), present, what, complete)


def free_bytes(path: str | Path) -> tuple[int, Path]:
    """Free bytes of the file system that holds `path` (or would: its nearest existing parent)."""
    p = Path(path).resolve()
    while not p.exists():
        p = p.parent
    return shutil.disk_usage(p).free, p


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover - the loop returns


def space_problem(estimates: list[Estimate], target: str | Path) -> str | None:
    """None when the disk holding `target` has room for what the dumps still need, else why not."""
    needed = sum(e.needed for e in estimates)
    free, where = free_bytes(target)
    if needed <= free:
        return None
    return (f"the dump(s) need about {human(needed)} more ({', '.join(f'{e.out_dir}: {human(e.needed)}' for e in estimates if e.needed)}), "
            f"but the file system of {where} has {human(free)} free; free some space, dump elsewhere "
            f"(--dumpdir), store fewer layers (layers: 3,4,5) or half precision (dtype: float16), or "
            f"skip this check (--skip-space-check)")
