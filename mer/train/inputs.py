"""Named model inputs: where each comes from, how one utterance is loaded, how a batch is padded.

A config lists its inputs by name and type; the names are those the model reads
(`AbsEmotionModel.input_names`):

    inputs:
      audio: whisper                          # shorthand for {type: dump, name: whisper}
      context: {type: dump, name: whisper_base}
      last: {type: dump, name: whisper_base, layers: last}   # of a dump of several layers: some
      norm: {type: dump, name: whisper, cmvn: speaker}   # mean/variance-normalised per speaker
      speech: {type: waveform, max_seconds: 20}   # raw audio from the data dir's wav.scp/segments
      text: {type: text}                      # the data dir's `text`
      asr: {type: text, dump: asr_tiny}       # <dumpdir>/asr_tiny/text (a transcription dump)
      ref: {type: text, file: /path/to/text}  # any file of Kaldi `text` form

Each source gives a length per utterance (frames, samples or words: used for bucketing) and loads
one utterance (a tensor, or a string for text); `mer.train.data.collate` pads a batch into
`batch[name]` with `batch[f"{name}_lengths"]`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mer.data.datadir import DataDir
from mer.data.dump_table import DumpTable
from mer.data.kaldi_io import read_kv

INPUT_TYPES = ("dump", "waveform", "text")
CMVN_MODES = ("speaker", "utterance")


@dataclass
class InputInfo:
    """What a model needs to know of an input to build itself."""

    type: str
    dim: int | None = None        # dump: feature dimension of one layer
    num_layers: int = 1           # dump: layers stored side by side
    sample_rate: int | None = None  # waveform


class FeatureDump:
    """Lazy access to one dump directory (`feats.scp`, `utt2num_frames`, `feats_info.json`)."""

    def __init__(self, path: str | Path, preload_max_mb: float = 2048):
        self.path = Path(path)
        scp = self.path / "feats.scp"
        if not scp.is_file():
            raise FileNotFoundError(f"{scp} not found: run the feature-dumping stage (stage 2) first")
        self.info = json.loads((self.path / "feats_info.json").read_text())
        self._table = DumpTable(self.path)  # arks inside the dump, checksums verified, errors named
        self.num_frames = {k: int(v) for k, v in read_kv(self.path / "utt2num_frames").items()}
        # Small dumps are read into memory once; large ones are read per access.
        size_mb = sum(p.stat().st_size for p in self.path.rglob("*.ark")) / 2**20
        self._cache: dict[str, np.ndarray] | None = {} if size_mb <= preload_max_mb else None

    @property
    def dim(self) -> int:
        return int(self.info["dim"])

    @property
    def num_layers(self) -> int:
        return int(self.info.get("num_layers_stored", 1))

    def __contains__(self, utt: str) -> bool:
        return utt in self.num_frames

    def __getitem__(self, utt: str) -> np.ndarray:
        if self._cache is not None and utt in self._cache:
            return self._cache[utt]
        mat = np.array(self._table[utt], dtype=np.float32)  # a writable copy: torch wants one
        if self._cache is not None:
            self._cache[utt] = mat
        return mat


class DumpInput:
    """Frames of a frozen encoder or a filterbank, dumped in stage 2. `layers` (last, or a list of
    positions among the stored layers) keeps only those, so that batches carry no unused layers."""

    def __init__(self, name: str, dump: FeatureDump, layers: str | list[int] | None = None):
        self.name, self.dump = name, dump
        stored = dump.num_layers
        if layers is None:
            self.keep = None
        else:
            picked = [stored - 1] if layers == "last" else list(layers) if isinstance(layers, list) else None
            if picked is None or not picked or any(not isinstance(i, int) or not -stored <= i < stored
                                                   for i in picked):
                raise ValueError(f"inputs.{name}.layers must be 'last' or a list of positions among the "
                                 f"{stored} layer(s) stored in {dump.path}, got {layers!r}")
            d = dump.dim
            self.keep = np.concatenate([np.arange(d) + (i % stored) * d for i in picked])
        self.layers = layers
        self.info = InputInfo("dump", dim=dump.dim, num_layers=stored if self.keep is None else len(picked))

    def describe(self) -> dict:
        return {"type": "dump", "path": str(self.dump.path), **{k: self.dump.info.get(k) for k in
                ("feature", "model", "layers", "dim", "num_layers_stored") if k in self.dump.info},
                **({"layers_read": self.layers} if self.keep is not None else {})}

    def missing(self, data: DataDir, utts: list[str]) -> list[str]:
        return [u for u in utts if u not in self.dump]

    def remedy(self, data_dir: str) -> str:
        return (f"dump them, or drop them with utils/fix_data_dir.sh --exclude {self.dump.path}/failed "
                f"{data_dir}")

    def length(self, data: DataDir, utt: str) -> int:
        return self.dump.num_frames[utt]

    def load(self, data: DataDir, utt: str) -> torch.Tensor:
        mat = self.dump[utt]
        return torch.from_numpy(mat if self.keep is None else np.ascontiguousarray(mat[:, self.keep]))


class CMVNInput:
    """Another input's frames with each dimension's mean and variance normalised (Kaldi's CMVN):
    `speaker` over all frames of the utterance's speaker in the data dir being read (utt2spk), so
    a test speaker's statistics come from that speaker's own unlabelled test utterances, as Kaldi
    recipes compute them per data dir; `utterance` over the utterance's own frames. Statistics
    are accumulated in float64, once per (data dir, speaker)."""

    def __init__(self, inner, mode: str):
        check_cmvn(f"inputs.{inner.name}.cmvn", mode)
        self.inner, self.mode = inner, mode
        self.name, self.info = inner.name, inner.info
        # id(data dir) -> (the data dir, kept so that its id is never reused while cached; its
        # utterances by speaker; the statistics of the speakers met so far)
        self._dirs: dict[int, tuple[DataDir, dict[str, list[str]], dict[str, tuple[torch.Tensor, torch.Tensor]]]] = {}

    def describe(self) -> dict:
        return {**self.inner.describe(), "cmvn": self.mode}

    def missing(self, data: DataDir, utts: list[str]) -> list[str]:
        return self.inner.missing(data, utts)

    def remedy(self, data_dir: str) -> str:
        return self.inner.remedy(data_dir)

    def length(self, data: DataDir, utt: str) -> int:
        return self.inner.length(data, utt)

    def load(self, data: DataDir, utt: str) -> torch.Tensor:
        x = self.inner.load(data, utt)
        if self.mode == "utterance":
            mean, std = _moments([x])
        else:
            mean, std = self._speaker(data, data.utt2spk[utt])
        return ((x - mean) / std).to(x.dtype)

    def _speaker(self, data: DataDir, spk: str) -> tuple[torch.Tensor, torch.Tensor]:
        if id(data) not in self._dirs:
            by_speaker: dict[str, list[str]] = {}
            for u, s in data.utt2spk.items():
                by_speaker.setdefault(s, []).append(u)
            self._dirs[id(data)] = (data, by_speaker, {})
        _, by_speaker, stats = self._dirs[id(data)]
        if spk not in stats:
            utts = by_speaker[spk]
            absent = set(self.inner.missing(data, utts))
            stats[spk] = _moments(self.inner.load(data, u) for u in utts if u not in absent)
        return stats[spk]


def _moments(frames) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and standard deviation (floored) over the frames of several matrices."""
    n, total, squares = 0, 0.0, 0.0
    for x in frames:
        x = x.double()
        n, total, squares = n + x.shape[0], total + x.sum(0), squares + (x * x).sum(0)
    if n == 0:
        raise ValueError("CMVN: no frames to compute statistics from")
    mean = total / n
    var = (squares / n - mean * mean).clamp(min=0.0)
    return mean.float(), var.sqrt().clamp(min=1e-5).float()


class WaveformInput:
    """Raw audio read through the one audio loader (`mer.data.audio`), for encoders trained in the model."""

    def __init__(self, name: str, sample_rate: int = 16000, max_seconds: float | None = None):
        self.name, self.sample_rate, self.max_seconds = name, sample_rate, max_seconds
        self.info = InputInfo("waveform", sample_rate=sample_rate)
        self._seconds: dict[str, float] = {}

    def describe(self) -> dict:
        return {"type": "waveform", "sample_rate": self.sample_rate, "max_seconds": self.max_seconds}

    def missing(self, data: DataDir, utts: list[str]) -> list[str]:
        def has_audio(u):
            return (u in data.segments and data.segments[u].recording in data.wav_scp) or u in data.wav_scp
        return [u for u in utts if not has_audio(u)]

    def remedy(self, data_dir: str) -> str:
        return f"check {data_dir}/wav.scp (and segments)"

    def _duration(self, data: DataDir, utt: str) -> float:
        """Seconds, from utt2dur or segments where the data dir has them, else from the file header."""
        if utt not in self._seconds:
            dur = data.extra.get("utt2dur", {}).get(utt)
            if dur is not None:
                self._seconds[utt] = float(dur)
            elif utt in data.segments:
                seg = data.segments[utt]
                self._seconds[utt] = seg.end - max(seg.start, 0.0)
            else:
                self._seconds[utt] = self._header_seconds(data, utt)
        return self._seconds[utt]

    def _header_seconds(self, data: DataDir, utt: str) -> float:
        import soundfile as sf

        from mer.data.audio import AudioError, is_pipe

        spec = data.wav_scp[utt].strip()
        if not is_pipe(spec):
            try:
                return sf.info(spec).duration
            except (sf.LibsndfileError, RuntimeError, OSError) as e:
                raise AudioError(utt, spec, f"cannot read the audio header ({e})") from None
        return len(self.load(data, utt)) / self.sample_rate  # a pipe: decode once to know

    def length(self, data: DataDir, utt: str) -> int:
        seconds = self._duration(data, utt)
        if self.max_seconds:
            seconds = min(seconds, self.max_seconds)
        return max(1, int(seconds * self.sample_rate))

    def load(self, data: DataDir, utt: str) -> torch.Tensor:
        from mer.data.audio import load_utterance

        wave = load_utterance(data, utt, target_sr=self.sample_rate)
        if self.max_seconds:
            wave = wave[: int(self.max_seconds * self.sample_rate)]  # the start: deterministic
        self._seconds.setdefault(utt, len(wave) / self.sample_rate)
        return torch.from_numpy(wave)


class TextInput:
    """Raw text: the data dir's transcripts, a transcription dump, or any Kaldi `text` file."""

    def __init__(self, name: str, path: Path | None = None):
        self.name, self.path = name, path
        self.info = InputInfo("text")
        self._table = read_kv(path, allow_empty_value=True) if path is not None else None

    def describe(self) -> dict:
        return {"type": "text", "source": str(self.path) if self.path else "data dir text"}

    def _texts(self, data: DataDir) -> dict[str, str]:
        return self._table if self._table is not None else data.text

    def missing(self, data: DataDir, utts: list[str]) -> list[str]:
        texts = self._texts(data)
        return [u for u in utts if u not in texts]

    def remedy(self, data_dir: str) -> str:
        return f"add them to {self.path or data_dir + '/text'}"

    def length(self, data: DataDir, utt: str) -> int:
        return max(1, len(self._texts(data)[utt].split()))

    def load(self, data: DataDir, utt: str) -> str:
        return self._texts(data)[utt]


def normalize_input_spec(name: str, spec) -> dict:
    """`whisper` -> {type: dump, name: whisper}; checks the type and the keys of each type."""
    if isinstance(spec, str):
        spec = {"type": "dump", "name": spec}
    if not isinstance(spec, dict) or spec.get("type") not in INPUT_TYPES:
        raise ValueError(f"config: inputs.{name} must be a dump name or a mapping with type one of "
                         f"{', '.join(INPUT_TYPES)}, got {spec!r}")
    allowed = {"dump": {"type", "name", "layers", "cmvn"}, "waveform": {"type", "sample_rate", "max_seconds"},
               "text": {"type", "dump", "file"}}[spec["type"]]
    unknown = set(spec) - allowed
    if unknown:
        raise ValueError(f"config: inputs.{name}: unknown key(s) {sorted(unknown)} for type "
                         f"{spec['type']}; allowed: {sorted(allowed)}")
    if spec["type"] == "dump" and not spec.get("name"):
        raise ValueError(f"config: inputs.{name}: a dump input needs `name` (a folder under the dump dir)")
    if spec.get("cmvn") is not None:
        check_cmvn(f"inputs.{name}.cmvn", spec["cmvn"])
    if spec["type"] == "text" and spec.get("dump") and spec.get("file"):
        raise ValueError(f"config: inputs.{name}: give `dump` or `file`, not both")
    return spec


def check_cmvn(where: str, mode) -> None:
    """`where` (the option's name in the message) must be one of CMVN_MODES."""
    if mode not in CMVN_MODES:
        raise ValueError(f"{where} must be one of {CMVN_MODES}, got {mode!r}")


def with_cmvn(source, spec: dict):
    """`source`, normalised as the input spec's `cmvn` says (unchanged without one)."""
    return CMVNInput(source, spec["cmvn"]) if spec.get("cmvn") else source


def open_input(name: str, spec, dumpdir: str | Path, preload_max_mb: float = 2048):
    spec = normalize_input_spec(name, spec)
    if spec["type"] == "dump":
        source = DumpInput(name, FeatureDump(Path(dumpdir) / spec["name"], preload_max_mb), spec.get("layers"))
        return with_cmvn(source, spec)
    if spec["type"] == "waveform":
        return WaveformInput(name, int(spec.get("sample_rate") or 16000), spec.get("max_seconds"))
    path = None
    if spec.get("dump"):
        path = Path(dumpdir) / spec["dump"] / "text"
    elif spec.get("file"):
        path = Path(spec["file"])
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"{path} not found (inputs.{name}): run the stage that writes it")
    return TextInput(name, path)


def open_inputs(conf: dict, dumpdir: str | Path) -> dict:
    """Every input the config's model reads, opened; an input the model reads but the config does
    not declare is an error that names both."""
    from mer.models import model_input_names

    declared = conf.get("inputs") or {}
    wanted = model_input_names(conf["model"])
    absent = [n for n in wanted if n not in declared]
    if absent:
        raise ValueError(f"config: model '{conf['model'].get('name')}' reads input(s) {absent} but "
                         f"`inputs:` declares only {sorted(declared) or 'none'}")
    return {n: open_input(n, declared[n], dumpdir, conf["train"]["preload_max_mb"]) for n in wanted}
