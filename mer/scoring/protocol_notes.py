"""What RESULTS.md says beside the numbers about how the folds were made and normalised.

- the protocol audit stage 1 wrote (data/<protocol>/fold<k>/audit.json, mer.data.protocol_audit):
  speakers, sessions and dialogues shared between the parts, test transcripts also in train;
- which systems are transductive: per-speaker CMVN (`cmvn: speaker`, mer.inputs.cmvn) normalises a
  test speaker with statistics of that speaker's own test utterances. Trained systems say it in
  their resolved fold*/config.yaml (inputs.<name>.cmvn), combiners (linear probes) in their
  decode dirs' meta.json.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import yaml

from mer.data.protocol_audit import load_audits, protocol_summary
from mer.scoring.decode_dir import ScoringError

TRANSDUCTIVE_MODE = "speaker"


def audit_notes(data_dir: str | os.PathLike, protocols: Iterable[str], shown_as: str = "data") -> list[str]:
    """One line per protocol: its audit summary, or that stage 1 wrote none (the data dir named
    `shown_as`, so that RESULTS.md does not depend on where the recipe was run)."""
    lines = []
    for protocol in sorted(set(protocols)):
        try:
            audits = load_audits(Path(data_dir) / protocol)
        except ValueError as e:
            raise ScoringError(str(e)) from e
        summary = protocol_summary(audits) if audits else (
            f"no audit (no {shown_as}/{protocol}/fold*/audit.json: rerun stage 1 to write it)")
        lines.append(f"`{protocol}`: {summary}")
    return lines


def _config_cmvn(path: Path) -> set[str]:
    try:
        conf = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ScoringError(f"{path}: not valid YAML: {e}") from e
    inputs = conf.get("inputs") if isinstance(conf, dict) else None
    return {str(spec.get("cmvn")) for spec in (inputs or {}).values() if isinstance(spec, dict)}


def _decode_cmvn(path: Path) -> set[str]:
    try:
        return {str(json.loads(path.read_text(encoding="utf-8")).get("cmvn"))}
    except json.JSONDecodeError as e:
        raise ScoringError(f"{path}: not valid JSON: {e}") from e


def transductive(exp_config_dir: str | os.PathLike) -> bool:
    """Whether any fold of exp/<protocol>/<config> normalised its inputs per speaker."""
    d = Path(exp_config_dir)
    modes = set()
    for path in d.glob("fold*/config.yaml"):
        modes |= _config_cmvn(path)
    for path in d.glob("fold*/decode_*/meta.json"):
        modes |= _decode_cmvn(path)
    return TRANSDUCTIVE_MODE in modes


def fitted_on(exp_config_dir: str | os.PathLike, test_set: str) -> bool:
    """Whether a fold of exp/<protocol>/<config> learnt from the set it decoded as `test_set`: its
    decode meta's `fit_on` (trained models: train.fit_on; probes: their fit_on) names that set, as
    `valid` in `train+valid`."""
    for path in Path(exp_config_dir).glob(f"fold*/decode_{test_set}/meta.json"):
        try:
            fit_on = json.loads(path.read_text(encoding="utf-8")).get("fit_on")
        except json.JSONDecodeError as e:
            raise ScoringError(f"{path}: not valid JSON: {e}") from e
        if test_set in str(fit_on or "").split("+"):
            return True
    return False
