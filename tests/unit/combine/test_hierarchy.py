"""System C's hierarchy combiner on hand-made decode dirs with known answers, run as a user runs it
on decode dirs alone (`python -m mer.bin.combine --config ... --exp-root ...`)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mer.bin.combine import main as combine
from mer.combine.hierarchy import decide
from mer.scoring.decode_dir import load_decode_dir, write_decode_dir

from tests.helpers import REPO

GATE, EMO, TEXT = ["neu", "emo"], ["ang", "hap", "sad"], ["ang", "hap", "neu", "sad"]
THRESHOLDS = [0.25, 0.30, 0.35, 0.40]

# utt: (reference, gate posterior, emotion posterior, text posterior,
#       expected final label for t = 0.25, 0.30, 0.35, 0.40, the text model's arg-max, speech only)
TEST = {
    "u1": ("hap", [0.2, 0.8], [0.1, 0.7, 0.2], [0.1, 0.1, 0.7, 0.1], ["hap"] * 6),
    "u2": ("hap", [0.9, 0.1], [0.5, 0.3, 0.2], [0.1, 0.5, 0.3, 0.1], ["neu", "neu", "hap", "hap", "hap", "neu"]),
    "u3": ("ang", [0.6, 0.4], [0.2, 0.2, 0.6], [0.65, 0.0, 0.35, 0.0], ["neu", "neu", "neu", "ang", "ang", "neu"]),
    "u4": ("neu", [0.7, 0.3], [0.2, 0.2, 0.6], [0.2, 0.2, 0.38, 0.22], ["neu"] * 6),
    "u5": ("sad", [0.55, 0.45], [0.3, 0.3, 0.4], [0.4, 0.1, 0.25, 0.25], ["neu", "ang", "ang", "ang", "ang", "neu"]),
    "u6": ("ang", [0.8, 0.2], [0.3, 0.3, 0.4], [0.6, 0.0, 0.4, 0.0], ["neu", "neu", "neu", "neu", "ang", "neu"]),
    "u7": ("sad", [0.3, 0.7], [0.1, 0.1, 0.8], [0.0, 0.0, 1.0, 0.0], ["sad"] * 6),
}
# On valid, t = 0.35 alone gets all four right (0.25/0.30 keep v1 neutral, 0.40 loses v2).
VALID = {
    "v1": ("hap", [0.9, 0.1], [0.3, 0.4, 0.3], [0.1, 0.6, 0.3, 0.0], None),
    "v2": ("neu", [0.8, 0.2], [0.3, 0.4, 0.3], [0.62, 0.0, 0.38, 0.0], None),
    "v3": ("ang", [0.1, 0.9], [0.8, 0.1, 0.1], [0.3, 0.3, 0.1, 0.3], None),
    "v4": ("sad", [0.1, 0.9], [0.1, 0.1, 0.8], [0.3, 0.3, 0.1, 0.3], None),
}


def _decode(root: Path, system: str, test_set: str, classes, table: dict, column: int, mapped=None):
    utts = sorted(table)
    post = np.array([table[u][column] for u in utts], dtype=np.float32)
    refs = {u: (mapped or {}).get(table[u][0], table[u][0]) for u in utts}
    write_decode_dir(root / system / "fold1" / f"decode_{test_set}", utts, classes, post, None,
                     meta={"system": "lstm_fc"}, refs=refs)


@pytest.fixture
def exp(tmp_path) -> Path:
    root = tmp_path / "exp" / "si"
    for test_set, table in (("valid", VALID), ("test", TEST)):
        _decode(root, "gate", test_set, GATE, table, 1, {"ang": "emo", "hap": "emo", "sad": "emo"})
        _decode(root, "emotion", test_set, EMO, table, 2)
        _decode(root, "text", test_set, TEXT, table, 3)
    return root


def _run(exp: Path, tmp_path: Path, name: str, *sets: str, text: str | None = "text") -> Path:
    conf = tmp_path / f"{name}.yaml"
    conf.write_text(yaml.safe_dump({"combiner": {"name": "hierarchy", "gate": "gate", "emotion": "emotion",
                                                 "text": text, "neutral": "neu", "thresholds": THRESHOLDS}}))
    args = ["--config", str(conf), "--exp-root", str(exp), "--out", str(exp / name), "--test-sets", "valid", "test"]
    for s in sets:
        args += ["--set", s]
    assert combine(args) == 0
    return exp / name


def _preds(d: Path) -> dict[str, str]:
    return dict(ln.split() for ln in (d / "utt2pred").read_text().splitlines())


@pytest.mark.slow
@pytest.mark.parametrize("column,t", list(enumerate(THRESHOLDS)) + [(4, None)])
def test_every_threshold_gives_the_known_labels(exp, tmp_path, column, t):
    out = _run(exp, tmp_path, f"hier_{t}", f"thresholds={'null' if t is None else t}")
    got = _preds(out / "fold1" / "decode_test")
    assert got == {u: row[4][column] for u, row in TEST.items()}
    meta = json.loads((out / "fold1" / "decode_test" / "meta.json").read_text())
    assert meta["threshold"] == t and meta["selection"] == {"how": "fixed"}


@pytest.mark.slow
def test_threshold_chosen_on_valid_and_every_t_reported(exp, tmp_path):
    out = _run(exp, tmp_path, "hier_sweep")
    report = json.loads((out / "fold1" / "hierarchy.json").read_text())
    assert report["threshold"] == 0.35
    assert report["selection"]["values"] == {"0.25": 0.75, "0.30": 0.75, "0.35": 1.0, "0.40": 0.75}
    assert _preds(out / "fold1" / "decode_test") == {u: row[4][2] for u, row in TEST.items()}
    assert _preds(out / "fold1" / "decode_valid") == {"v1": "hap", "v2": "neu", "v3": "ang", "v4": "sad"}
    sweep = report["sets"]["test"]["sweep"]
    refs = {u: row[0] for u, row in TEST.items()}
    for column, key in enumerate(["0.25", "0.30", "0.35", "0.40", "argmax", "speech-only"]):
        right = sum(TEST[u][4][column] == refs[u] for u in TEST)
        assert sweep[key]["wa"] == pytest.approx(right / len(TEST)), key
    # Fig. 2: emotional utterances the gate called neutral (u2 u3 u5 u6) and those text put right
    assert sweep["0.35"]["emotional_called_neutral"] == 4 and sweep["0.35"]["corrected_by_text"] == 1
    assert sweep["argmax"]["corrected_by_text"] == 3
    pooled = json.loads((out / "hierarchy_sweep.json").read_text())
    assert pooled["thresholds_per_fold"] == {"fold1": "0.35"}
    assert pooled["sets"]["test"]["0.40"]["wa"] == sweep["0.40"]["wa"]
    md = (out / "hierarchy_report.md").read_text()
    assert "| 0.35 |" in md and "Corrected by text" in md and "fold1/u2" in md
    assert (out / "plots" / "neutral_pr_test.png").is_file()
    scored = load_decode_dir(out / "fold1" / "decode_test", need_posteriors=True)
    assert scored.classes == TEXT and np.allclose(scored.posteriors.sum(1), 1.0, atol=1e-5)
    assert scored.output("route_text")[:, 0].tolist() == [0, 1, 1, 1, 1, 1, 0]


def test_speech_only_hierarchy_keeps_the_gates_neutral(exp, tmp_path):
    out = _run(exp, tmp_path, "hier_speech", text=None)
    assert _preds(out / "fold1" / "decode_test") == {u: row[4][5] for u, row in TEST.items()}
    meta = json.loads((out / "fold1" / "decode_test" / "meta.json").read_text())
    assert meta["modalities"] == "audio" and meta["threshold"] is None


def test_trained_systems_found_under_their_tagged_exp_dirs(tmp_path):
    # run.sh --train_args "train.epochs=1" tags the exp dirs (gate -> gate_train.epochs1) while the
    # combiner config names the configs: emo.sh maps one to the other with --system-dir.
    exp = tmp_path / "exp" / "si"
    _decode(exp, "gate_train.epochs1", "test", GATE, TEST, 1, {"ang": "emo", "hap": "emo", "sad": "emo"})
    _decode(exp, "emotion_train.epochs1", "test", EMO, TEST, 2)
    conf = tmp_path / "speech.yaml"
    conf.write_text(yaml.safe_dump({"combiner": {"name": "hierarchy", "gate": "gate", "emotion": "emotion",
                                                 "text": None, "neutral": "neu", "thresholds": None}}))
    args = ["--config", str(conf), "--exp-root", str(exp), "--out", str(exp / "hier_speech"), "--test-sets", "test"]
    with pytest.raises(FileNotFoundError, match="train and decode 'gate' first"):
        combine(args)
    assert combine(args + ["--system-dir", "gate=gate_train.epochs1", "--system-dir",
                           "emotion=emotion_train.epochs1"]) == 0
    assert _preds(exp / "hier_speech" / "fold1" / "decode_test") == {u: row[4][5] for u, row in TEST.items()}


def test_tie_at_exactly_t_is_neutral_in_float32():
    p = np.array([0.25, 0.30, 0.35, 0.40], dtype=np.float32).astype(np.float64)  # as read back from ark
    for t in THRESHOLDS:
        final, routed = decide(["neu"] * 4, ["ang"] * 4, ["hap"] * 4, p, "neu", t)
        assert final == ["neu" if q >= np.float32(t) else "hap" for q in p.astype(np.float32)]
        assert final[THRESHOLDS.index(t)] == "neu" and routed.all()


def test_missing_valid_or_mismatched_utterances_are_named(exp, tmp_path):
    conf = tmp_path / "h.yaml"
    conf.write_text(yaml.safe_dump({"combiner": {"name": "hierarchy", "gate": "gate", "emotion": "emotion",
                                                 "text": "text"}}))
    with pytest.raises(ValueError, match="valid"):
        combine(["--config", str(conf), "--exp-root", str(exp), "--out", str(exp / "h"), "--test-sets", "test"])
    _decode(exp, "emotion", "test", EMO, {u: TEST[u] for u in list(TEST)[:3]}, 2)
    with pytest.raises(ValueError, match="emotion"):
        combine(["--config", str(conf), "--exp-root", str(exp), "--out", str(exp / "h2"), "--test-sets", "test",
                 "--set", "thresholds=0.3"])


@pytest.mark.parametrize("config", sorted(REPO.glob("egs/*/*/conf/combine/hier_*.yaml")),
                         ids=lambda p: f"{p.parents[2].parent.name}/{p.parents[2].name}/{p.name}")
def test_recipe_hierarchy_configs_name_trained_configs(config):
    from mer.bin.combine import load_settings
    from mer.combine import build_combiner

    settings = load_settings(str(config), None, [])
    combiner = build_combiner(settings)
    tuning = config.parents[1] / "tuning"
    for system in (combiner.gate, combiner.emotion, combiner.text):
        assert system is None or (tuning / f"{system}.yaml").is_file(), system


def test_a_plan_runs_each_combiner_as_its_own_call_would(exp, tmp_path):
    """`--plan`: one process, one combiner per line, the shared options from the command line; a
    failing line is named and the lines before it stay finished."""
    one = _run(exp, tmp_path, "alone", "thresholds=0.3")
    conf = tmp_path / "h.yaml"
    conf.write_text(yaml.safe_dump({"combiner": {"name": "hierarchy", "gate": "gate", "emotion": "emotion",
                                                 "text": "text", "neutral": "neu", "thresholds": THRESHOLDS}}))
    plan = tmp_path / "plan"
    plan.write_text(f"--out {exp / 'p1'} --set thresholds=0.3\n\n--out '{exp / 'p2'}' --set text=null\n")
    assert combine(["--config", str(conf), "--exp-root", str(exp), "--test-sets", "valid", "test",
                    "--plan", str(plan)]) == 0
    for s in ("valid", "test"):
        assert _preds(exp / "p1" / "fold1" / f"decode_{s}") == _preds(one / "fold1" / f"decode_{s}")
    assert _preds(exp / "p2" / "fold1" / "decode_test") == {u: row[4][5] for u, row in TEST.items()}

    plan.write_text(f"--out {exp / 'p3'} --set thresholds=0.3\n--out {exp / 'p4'} --set gate=nosuch\n")
    with pytest.raises(FileNotFoundError, match=f"{exp / 'p4'}: .*nosuch"):
        combine(["--config", str(conf), "--exp-root", str(exp), "--test-sets", "valid", "test", "--plan", str(plan)])
    assert (exp / "p3" / "fold1" / "decode_test" / "meta.json").is_file()
