"""Packed models: one trained model and everything needed to run it outside its recipe.

A pack is a tar.gz (written by `mer.bin.pack`) holding, under one folder:

  config.yaml   the resolved training config
  model.pt      the best weights: {"model": state_dict, "epoch", "metric", "value"}, loadable with
                torch.load(..., weights_only=True)
  classes       the output classes, one a line (posterior order)
  inputs.json   per input the model reads: its config entry, what it is computed from (audio or
                text) and how: the feature settings of its dump (the options of mer.bin.dump_feats:
                encoder id or directory, layers, text cleaning, Whisper window), the transcription
                settings of an ASR text input, or where reference text came from
  pack.json     the git commit, the source experiment, the checkpoint epoch, the protocol and scores
  scores/       scores.json and meta.json of every decode dir of the fold, and the fold aggregate
  README.md     the same, for people

`load_bundle(path)` reads a pack, or builds the same bundle straight from an experiment dir, so
`mer.trained_model.load_trained_model` (and with it `mer.recognizer.Recognizer`) runs either.
"""
from __future__ import annotations

import datetime
import io
import json
import re
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mer.data.kaldi_io import read_list

# Keys of feats_info.json that describe one run of the dump (timings, counts), not the features.
_RUN_KEYS = ("num_utts", "num_failed", "seconds", "job_seconds", "audio_seconds", "rtf", "nj", "data_dir",
             "settings")
# Transcription settings that change the hypotheses (mer.bin.transcribe's settings.json).
ASR_KEYS = ("model", "beam_size", "language")
REFERENCE_TEXT = "the data dir's reference transcripts"
REQUIRED_MEMBERS = ("config.yaml", "model.pt", "classes", "inputs.json", "pack.json")


class PackError(ValueError):
    """An experiment that cannot be packed, or a file that is not a pack."""


@dataclass
class Bundle:
    conf: dict
    classes: list[str]
    state: dict                      # {"model": state_dict, "epoch": ..., ...}
    inputs: dict[str, dict]          # input name -> record (see describe_inputs)
    info: dict                       # pack.json
    scores: dict[str, dict] = field(default_factory=dict)  # path under scores/ -> JSON


# ---------------------------------------------------------------- from an experiment dir

def find_fold_dir(exp_dir: str | Path, fold: int | None = None) -> Path:
    """The dir holding best.pt: EXP_DIR itself, or its fold<k>/ (the only one, or `fold`)."""
    exp_dir = Path(exp_dir)
    if fold is not None:
        exp_dir = exp_dir / f"fold{fold}"
    if (exp_dir / "best.pt").is_file():
        return exp_dir
    folds = sorted((p for p in exp_dir.glob("fold*") if (p / "best.pt").is_file()),
                   key=lambda p: (len(p.name), p.name))
    if len(folds) == 1:
        return folds[0]
    if folds:
        raise PackError(f"{exp_dir} holds {len(folds)} trained folds ({', '.join(p.name for p in folds)}); "
                        f"choose one with --fold K (or pass EXP_DIR/foldK)")
    raise PackError(f"{exp_dir}: no best.pt here or in a fold*/ dir: train it first (stage 3)")


def _recorded_dump_paths(fold_dir: Path) -> dict[str, str]:
    """Input name -> dump path as the decode dirs' meta.json recorded it (relative to the recipe);
    decode dirs run with other inputs (--override) are left out."""
    paths = {}
    for path in sorted(fold_dir.glob("decode_*/meta.json")):
        meta = json.loads(path.read_text())
        if meta.get("input_overrides"):
            continue
        for name, rec in (meta.get("inputs") or {}).items():
            if rec.get("type") == "dump" and rec.get("path"):
                paths.setdefault(name, rec["path"])
    return paths


def find_dump(fold_dir: Path, name: str, folder: str, dumpdir: str | Path | None,
              recorded: dict[str, str], marker: str = "feats_info.json") -> Path:
    """The dump folder `folder` of input `name`: under --dumpdir, else where the decode dirs found
    it, else `dump/` of the recipe holding the experiment (searched upwards from it)."""
    tried = []
    if dumpdir is not None:
        tried.append(Path(dumpdir) / folder)
    else:
        rel = [Path(recorded[name])] if name in recorded else []
        for base in (Path.cwd(), *fold_dir.resolve().parents):
            tried += [p if p.is_absolute() else base / p for p in rel] + [base / "dump" / folder]
    for p in tried:
        if (p / marker).is_file():
            return p
    raise PackError(f"input '{name}': cannot find its dump '{folder}' ({marker}); tried "
                    f"{', '.join(str(p) for p in tried[:4])}{' ...' if len(tried) > 4 else ''}; "
                    f"pass --dumpdir (the recipe's dump dir)")


def describe_inputs(conf: dict, fold_dir: Path, dumpdir: str | Path | None = None) -> dict[str, dict]:
    """Per input the model reads: `spec` (its config entry), `kind` (audio | text: what it is
    computed from) and how it was made, read from the dumps it came from."""
    from mer.features import read_dump_settings
    from mer.models import model_input_names
    from mer.inputs import normalize_input_spec

    recorded = _recorded_dump_paths(fold_dir)
    out = {}
    for name in model_input_names(conf["model"]):
        spec = normalize_input_spec(name, (conf.get("inputs") or {}).get(name))
        rec: dict = {"spec": spec}
        if spec["type"] == "dump":
            d = find_dump(fold_dir, name, spec["name"], dumpdir, recorded)
            settings = read_dump_settings(d)
            if settings.get("feature") == "asr":
                raise PackError(f"input '{name}': dump '{spec['name']}' is a transcription, not features")
            info = json.loads((d / "feats_info.json").read_text())
            rec.update(kind="text" if settings["feature"] == "hf-text" else "audio", features=settings,
                       feats_info={k: v for k, v in info.items() if k not in _RUN_KEYS})
            if rec["kind"] == "text":
                rec["text_from"] = REFERENCE_TEXT
        elif spec["type"] == "waveform":
            rec["kind"] = "audio"
        else:
            rec["kind"] = "text"
            if spec.get("dump"):
                d = find_dump(fold_dir, name, spec["dump"], dumpdir, recorded, marker="settings.json")
                asr = json.loads((d / "settings.json").read_text())
                rec["transcription"] = {k: asr.get(k) for k in ASR_KEYS}
                rec["text_from"] = f"Whisper transcripts ({asr_words(rec['transcription'])})"
            else:
                rec["text_from"] = f"the text file {spec['file']}" if spec.get("file") else REFERENCE_TEXT
        out[name] = rec
    return out


def asr_words(asr: dict) -> str:
    """How a transcription was made, in words: model, greedy or beam, language."""
    beam = asr.get("beam_size") or 1
    words = f"{asr.get('model')}, {'greedy' if beam == 1 else f'beam {beam}'}"
    return words + (f", language {asr['language']}" if asr.get("language") else "")


def git_commit(path: Path) -> dict:
    """The commit of the repository holding `path`, and whether tracked files differ from it."""
    def git(*args):
        return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, timeout=30)
    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip() != ""
        return {"commit": head.stdout.strip(), "dirty": dirty}
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}


def _scores(fold_dir: Path) -> dict[str, dict]:
    out = {}
    for decode in sorted(fold_dir.glob("decode_*")):
        for name in ("scores.json", "meta.json"):
            if (decode / name).is_file():
                out[f"{decode.name}/{name}"] = json.loads((decode / name).read_text())
    if fold_dir.name.startswith("fold"):  # the fold aggregate of the config: mean, std, pooled
        for agg in sorted(fold_dir.parent.glob("scores_*.json")):
            out[agg.name] = json.loads(agg.read_text())
    return out


def add_training_stats(inputs: dict[str, dict], conf: dict, fold_dir: Path, dumpdir: str | Path | None,
                       train_dirs: list[str | Path] | None, protocol: str | None) -> None:
    """The training speakers' statistics of each speaker-normalised input (mer.deploy_cmvn), from
    `train_dirs` or the fold's data dirs in the recipe; left out where those are not found."""
    from mer.deploy_cmvn import attach_training_stats, default_train_dirs, speaker_normalised

    names = speaker_normalised(inputs)
    if not names:
        return
    dirs = [Path(d) for d in train_dirs] if train_dirs else default_train_dirs(fold_dir, conf, protocol)
    recorded = _recorded_dump_paths(fold_dir)
    dumps = {n: find_dump(fold_dir, n, inputs[n]["spec"]["name"], dumpdir, recorded) for n in names}
    attach_training_stats(inputs, dumps, dirs)


def read_trained_fold(fold_dir: Path, checkpoint: str = "best.pt", overrides: list[str] = ()
                      ) -> tuple[dict, list[str], dict]:
    """A trained fold dir's resolved config (with `overrides`), classes and checkpoint (read safely):
    what packing and mer.trained_model both read of an experiment."""
    from mer.checkpoint import load_checkpoint
    from mer.train.config import load_config

    return (load_config(fold_dir / "config.yaml", list(overrides)), read_list(fold_dir / "classes"),
            load_checkpoint(fold_dir / checkpoint))


def bundle_from_exp(exp_dir: str | Path, fold: int | None = None, dumpdir: str | Path | None = None,
                    train_dirs: list[str | Path] | None = None) -> Bundle:
    import mer

    fold_dir = find_fold_dir(exp_dir, fold)
    conf, classes, state = read_trained_fold(fold_dir)
    state = {k: state[k] for k in ("model", "epoch", "metric", "value") if k in state}
    scores = _scores(fold_dir)
    metas = [v for k, v in scores.items() if k.endswith("/meta.json")]
    fold_number = re.fullmatch(r"fold(\d+)", fold_dir.name)
    config_dir = fold_dir.parent if fold_number else fold_dir
    info = {"format": 1, "mer_version": mer.__version__,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "source": str(fold_dir.resolve()), "config": config_dir.name,
            "fold": int(fold_number.group(1)) if fold_number else None,
            "protocol": next((m.get("protocol") for m in metas if m.get("protocol")), None),
            "corpus": next((m.get("corpus") for m in metas if m.get("corpus")), None),
            "system": conf["model"]["name"], "checkpoint_epoch": state.get("epoch"),
            "best_metric": {"metric": state.get("metric"), "value": state.get("value")},
            "git": git_commit(Path(mer.__file__).resolve().parent)}
    inputs = describe_inputs(conf, fold_dir, dumpdir)
    add_training_stats(inputs, conf, fold_dir, dumpdir, train_dirs, info["protocol"])
    return Bundle(conf=conf, classes=classes, state=state, inputs=inputs, info=info,
                  scores=scores)


# ---------------------------------------------------------------- the archive

def write_archive(bundle: Bundle, out: str | Path) -> Path:
    """Write the pack atomically: a reader never sees half an archive."""
    import torch

    from mer.utils.fileio import atomic_open

    out = Path(out)
    root = out.name.removesuffix(".gz").removesuffix(".tgz").removesuffix(".tar")
    weights = io.BytesIO()
    torch.save(bundle.state, weights)
    members = {"README.md": render_readme(bundle).encode(),
               "config.yaml": yaml.safe_dump(bundle.conf, sort_keys=False).encode(),
               "model.pt": weights.getvalue(),
               "classes": "".join(f"{c}\n" for c in bundle.classes).encode(),
               "inputs.json": _json(bundle.inputs), "pack.json": _json(bundle.info),
               **{f"scores/{k}": _json(v) for k, v in bundle.scores.items()}}
    with atomic_open(out, "wb") as f, tarfile.open(fileobj=f, mode="w:gz") as tar:
        for name, data in members.items():
            ti = tarfile.TarInfo(f"{root}/{name}")
            ti.size, ti.mode, ti.mtime = len(data), 0o644, int(datetime.datetime.now().timestamp())
            tar.addfile(ti, io.BytesIO(data))
    return out


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=2) + "\n").encode()


def read_archive(path: str | Path) -> Bundle:
    """A pack's bundle; its members are streamed with size limits, and every error names the member."""
    from mer.pack_members import PackMemberError, parse_json, parse_text, parse_yaml, read_members
    from mer.checkpoint import load_checkpoint

    def wanted(name):
        return name in REQUIRED_MEMBERS or (name.startswith("scores/") and name.endswith(".json"))

    try:
        files = read_members(path, wanted, is_text=lambda name: name != "model.pt")
    except PackMemberError as e:
        raise PackError(str(e)) from None
    except (tarfile.TarError, OSError, EOFError) as e:
        raise PackError(f"{path}: not a readable packed model ({e})") from None
    missing = [n for n in REQUIRED_MEMBERS if n not in files]
    if missing:
        raise PackError(f"{path}: not a packed model of mer.bin.pack (missing {', '.join(missing)})")
    try:
        return Bundle(conf=parse_yaml(f"{path}: member config.yaml", files["config.yaml"]),
                      classes=parse_text(f"{path}: member classes", files["classes"]).split(),
                      state=load_checkpoint(io.BytesIO(files["model.pt"]), name=f"{path}: member model.pt"),
                      inputs=parse_json(f"{path}: member inputs.json", files["inputs.json"]),
                      info=parse_json(f"{path}: member pack.json", files["pack.json"]),
                      scores={k[len("scores/"):]: parse_json(f"{path}: member {k}", v)
                              for k, v in files.items() if k.startswith("scores/")})
    except (PackMemberError, ValueError) as e:  # CheckpointError is a ValueError
        raise PackError(str(e)) from None


def load_bundle(path: str | Path, fold: int | None = None, dumpdir: str | Path | None = None) -> Bundle:
    """A pack (file), or an experiment dir (with best.pt, or fold dirs below it)."""
    path = Path(path)
    if path.is_dir():
        return bundle_from_exp(path, fold, dumpdir)
    if not path.exists():
        raise PackError(f"{path}: no such packed model or experiment dir")
    return read_archive(path)


# ---------------------------------------------------------------- README



def render_readme(b: Bundle) -> str:
    from mer.deploy_cmvn import speaker_hint
    from mer.metrics import default_columns

    keys = default_columns()
    i, git = b.info, b.info.get("git") or {}
    commit = git.get("commit") or "unknown"
    lines = [f"# {i['system']} ({i['config']}{', fold %s' % i['fold'] if i.get('fold') else ''})", "",
             f"Packed by `mer.bin.pack` from `{i['source']}` on {i['created']}; code at commit `{commit}`"
             f"{' with uncommitted changes' if git.get('dirty') else ''}. Best checkpoint: epoch "
             f"{i.get('checkpoint_epoch')} by validation {i['best_metric'].get('metric')}.", "",
             f"Classes: {', '.join(b.classes)}.", "", "## Inputs", ""]
    for name, rec in b.inputs.items():
        lines.append(f"- `{name}`: {input_words(rec)}")
    lines += ["", "## Scores", "",
              f"Protocol `{i.get('protocol')}`, corpus `{i.get('corpus')}`; percentages. `fold` is this "
              "model; the other rows are over every fold of the config.", "",
              "| set | rows | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for key, s in b.scores.items():
        if key.endswith("/scores.json"):
            lines.append(f"| {key.split('/')[0].removeprefix('decode_')} | fold | "
                         + " | ".join(_pct(s.get(k)) for k in keys) + " |")
        elif key.startswith("scores_"):
            for row in ("mean", "pooled"):
                part = s.get(row) or {}
                lines.append(f"| {key[len('scores_'):-len('.json')]} | {row} | "
                             + " | ".join(_pct(part.get(k)) for k in keys) + " |")
    needs_text = any(r["kind"] == "text" for r in b.inputs.values())
    hint = speaker_hint(b.inputs)
    lines += ["", "## Use", ""] + ([f"**{hint}.**", ""] if hint else []) + ["```bash",
              "mer-recognize --model THIS.tar.gz " + ("--text-file text " if needs_text else "")
              + ("--speaker SPEAKER " if hint else "") + "rec1.wav rec2.wav   # or a folder, or a wav.scp"
              + (" with utt2spk beside it" if hint else ""),
              "```", "", "```python", "from mer.recognizer import Recognizer",
              "r = Recognizer.from_pretrained('THIS.tar.gz'" + (", asr='whisper-tiny.en'" if needs_text else "") + ")",
              "print(r('rec1.wav'" + (", text='what was said'" if needs_text else "")
              + (", speaker='SPEAKER'" if hint else "") + "))", "```", "",
              "Inputs are computed from the audio (and text) with the same code and settings as the "
              "dumps the model was trained on; the encoders named above must be available "
              "(a hub id, a local directory, or a short name that `tools/prepare_models.sh` prepares).", ""]
    return "\n".join(lines)


def _pct(x) -> str:
    return "-" if not isinstance(x, (int, float)) else f"{100 * x:.2f}"


def input_words(rec: dict) -> str:
    """One line on what an input is and how it is computed."""
    spec = rec["spec"]
    if spec["type"] == "dump":
        f = rec["features"]
        words = f"`{f['feature']}` features" + (f" of {f['model']}" if f.get("model") else "")
        words += f" (layers {f.get('layers')}"
        if f["feature"] == "hf" and rec.get("feats_info", {}).get("whisper_input_seconds") is not None:
            words += f", Whisper window {f.get('whisper_input_seconds')} s"
        if f["feature"] == "hf-text":
            words += f", text cleaning {'on' if f.get('clean_text') else 'off'}"
        words += ") of the " + ("transcript" if rec["kind"] == "text" else "audio")
    elif spec["type"] == "waveform":
        words = (f"the waveform at {spec.get('sample_rate') or 16000} Hz"
                 + (f", first {spec['max_seconds']} s" if spec.get("max_seconds") else ""))
    else:
        words = "the transcript as text"
    if rec["kind"] == "text":
        words += f"; trained on {rec['text_from']}"
    return words
