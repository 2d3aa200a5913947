"""A config's `inputs:` block: each entry checked against its type, and opened.

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

Each opened input loads one utterance; `mer.inputs.collate` pads a batch into `batch[name]` with
`batch[f"{name}_lengths"]`.
"""
from __future__ import annotations

from pathlib import Path

from mer.inputs.base import INPUT_TYPES


def normalize_input_spec(name: str, spec) -> dict:
    """`whisper` -> {type: dump, name: whisper}; checks the type and the keys of each type."""
    if isinstance(spec, str):
        spec = {"type": "dump", "name": spec}
    if not isinstance(spec, dict) or spec.get("type") not in INPUT_TYPES:
        raise ValueError(f"config: inputs.{name} must be a dump name or a mapping with type one of "
                         f"{', '.join(INPUT_TYPES)}, got {spec!r}")
    kind = INPUT_TYPES[spec["type"]]
    allowed = {"type"} | kind.spec_keys
    unknown = set(spec) - allowed
    if unknown:
        raise ValueError(f"config: inputs.{name}: unknown key(s) {sorted(unknown)} for type "
                         f"{spec['type']}; allowed: {sorted(allowed)}")
    kind.check_spec(name, spec)
    return spec


def open_input(name: str, spec, dumpdir: str | Path, preload_max_mb: float = 2048):
    spec = normalize_input_spec(name, spec)
    return INPUT_TYPES[spec["type"]].open(name, spec, Path(dumpdir), preload_max_mb)


def open_inputs(conf: dict, dumpdir: str | Path, names) -> dict:
    """The inputs `names` (those the config's model reads: `mer.models.model_input_names`), opened
    as the config declares them; a name the config does not declare is an error that names both."""
    declared = conf.get("inputs") or {}
    absent = [n for n in names if n not in declared]
    if absent:
        raise ValueError(f"config: model '{conf['model'].get('name')}' reads input(s) {absent} but "
                         f"`inputs:` declares only {sorted(declared) or 'none'}")
    return {n: open_input(n, declared[n], dumpdir, conf["train"]["preload_max_mb"]) for n in names}
