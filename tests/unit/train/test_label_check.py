"""No silent wrong numbers from labels (issue 23, item 2): a label outside the recipe's label set
stops stage 1 and training, naming file, line and label, unless the config drops such labels, and
then the counts per label reach the console and RESULTS.md."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mer.data.validate import validate_data_dir
from mer.scoring.results_md import make_results
from mer.train.label_check import unknown_labels
from mer.inputs import LabelMap
from tests.helpers.training import ENV, LABELS, make_corpus, train_cmd, write_config



@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("labels"), num_speakers=4, utts_per_speaker=8)


def relabel(data_dir: Path, old: str, new: str, only_first: bool = False) -> list[int]:
    """Rewrite label `old` as `new` in DATA_DIR/utt2emo; return the (1-based) lines changed."""
    path = data_dir / "utt2emo"
    lines = path.read_text().splitlines()
    changed = []
    for i, line in enumerate(lines):
        utt, label = line.split()
        if label == old and not (only_first and changed):
            lines[i] = f"{utt} {new}"
            changed.append(i + 1)
    path.write_text("".join(f"{ln}\n" for ln in lines))
    return changed


def copy_corpus(corpus: Path, dst: Path) -> Path:
    subprocess.run(["cp", "-r", str(corpus), str(dst)], check=True)
    return dst


def train(root: Path, config: Path, exp: str) -> subprocess.CompletedProcess:
    return subprocess.run(train_cmd(root, config, exp), env=ENV, capture_output=True, text=True)


def test_label_check_knows_the_label_set_the_map_and_the_classes():
    m = LabelMap({"map": {"exc": "hap"}, "classes": ["ang", "hap", "sad"]}, LABELS)
    # neu is in the recipe's label set but not a class: left out by choice, not unknown
    assert m.known == {"ang", "hap", "neu", "sad", "exc"} and m.index("neu") == -1
    assert m.unknown == "error"
    with pytest.raises(ValueError, match="labels.unknown is 'ignore'"):
        LabelMap({"unknown": "ignore"}, LABELS)


def test_stage1_validation_names_a_mistyped_label(corpus, tmp_path):
    root = copy_corpus(corpus, tmp_path / "c")
    lines = relabel(root / "data/all", "ang", "Ang")
    errors = validate_data_dir(root / "data/all")  # the label set: data/all/labels
    assert errors == [f"{root}/data/all/utt2emo:{lines[0]}: label 'Ang' is not in the label set "
                      f"(ang, hap, neu, sad) ({len(lines)} lines with it in all)"]


@pytest.mark.slow
def test_training_refuses_a_mistyped_class_naming_file_line_and_label(corpus, tmp_path):
    root = copy_corpus(corpus, tmp_path / "c")
    train_lines = relabel(root / "data/train", "ang", "Ang")
    valid_lines = relabel(root / "data/valid", "hap", "bored", only_first=True)
    assert unknown_labels(root / "data/train", LabelMap(None, LABELS).known) == {
        "Ang": [(n, (root / "data/train/utt2emo").read_text().splitlines()[n - 1].split()[0]) for n in train_lines]}
    proc = train(root, write_config(tmp_path / "c.yaml", epochs=1), "exp")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert f"{root}/data/train/utt2emo:{train_lines[0]}: label 'Ang'" in proc.stderr
    assert f"({len(train_lines)} lines with it)" in proc.stderr
    assert f"{root}/data/valid/utt2emo:{valid_lines[0]}: label 'bored'" in proc.stderr
    assert "labels.unknown: drop" in proc.stderr
    assert not (root / "exp/checkpoint.pt").exists()


@pytest.mark.slow
def test_dropping_unknown_labels_is_counted_on_the_console_and_in_results(corpus, tmp_path):
    root = copy_corpus(corpus, tmp_path / "c")
    n_train = len(relabel(root / "data/train", "ang", "Ang"))
    n_valid = len(relabel(root / "data/valid", "sad", "bored", only_first=True))
    cfg = write_config(tmp_path / "c.yaml", epochs=1, extra="labels: {unknown: drop}\n")
    proc = train(root, cfg, "exp/fixed/drop_cfg/fold1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"left out {n_train} utterance(s) labelled 'Ang' of the train set" in proc.stderr
    assert f"left out {n_valid} utterance(s) labelled 'bored' of the valid set" in proc.stderr
    dropped = json.loads((root / "exp/fixed/drop_cfg/fold1/dropped_labels.json").read_text())
    assert dropped == {"train": {"Ang": n_train}, "valid": {"bored": n_valid}}
    all_train = len((root / "data/train/utt2spk").read_text().splitlines())
    all_valid = len((root / "data/valid/utt2spk").read_text().splitlines())
    log = (root / "exp/fixed/drop_cfg/fold1/train.log").read_text()
    assert f"{all_train - n_train} train / {all_valid - n_valid} valid utterances" in log
    # stage 5: RESULTS.md and the console say it
    proc = subprocess.run([sys.executable, "-m", "mer.bin.make_results", str(root), "--exp", "exp"],
                          env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    note = (f"drop_cfg (fixed, 1 fold(s)): labels.unknown: drop left out utterances with labels outside "
            f"the label set; train: 'Ang' {n_train}; valid: 'bored' {n_valid}")
    assert note in proc.stderr
    assert f"- {note}" in (root / "RESULTS.md").read_text()


def test_results_without_drops_have_no_note(tmp_path):
    (tmp_path / "exp/fixed/cfg/fold1").mkdir(parents=True)
    path, _ = make_results(tmp_path)
    assert "labels.unknown: drop" not in path.read_text()


@pytest.mark.slow  # runs the demo recipe (stages 1-5) at a tiny setting
def test_demo_recipe_probe_mistyped_labels_and_an_edited_transcript(tmp_path):
    """Issue 23's probe in a copy of the demo: utt2emo edited after stage 1, then stage 3 again."""
    from mer.pretrained import is_complete, models_dir
    from tests.helpers.recipes import copy_recipe, run_recipe

    for name in ("whisper-tiny.en", "minilm"):
        if not is_complete(models_dir() / name):
            pytest.skip(f"{models_dir() / name} is not prepared: run tools/install.sh")
    recipe = copy_recipe(tmp_path, "mini/memocmt")
    small = ("--local_data_opts", "--utts_per_speaker 4", "--train_nj", "1",
             "--train_configs", "conf/tuning/train_text_only.yaml")
    run_recipe(recipe, *small, "--stop_stage", "2", timeout=1200)
    # an edited transcript: stage 2 again dumps that utterance instead of "all jobs already done"
    text = recipe / "data/all/text"
    rows = text.read_text().splitlines()
    utt = rows[0].split()[0]
    rows[0] = f"{utt} a sentence that was not there before"
    text.write_text("".join(r + "\n" for r in rows))
    proc = run_recipe(recipe, *small, "--stage", "2", "--stop_stage", "2", timeout=600)
    assert f"utterance {utt}: its text changed since it was dumped" in proc.stderr + proc.stdout
    # every `ang` typed `Ang` in the fold's data dirs: stage 3 stops, naming file, line and label
    fold = recipe / "data/fixed/fold1"
    lines = {part: relabel(fold / part, "ang", "Ang") for part in ("train", "valid", "test")}
    proc = run_recipe(recipe, *small, "--stage", "3", "--stop_stage", "3", "--train_args", "train.epochs=1",
                      check=False, timeout=600)
    log = next((recipe / "exp/fixed").glob("train_text_only*/fold1/log/train.log")).read_text()
    assert proc.returncode != 0
    assert f"data/fixed/fold1/train/utt2emo:{lines['train'][0]}: label 'Ang'" in log
    # labels.unknown=drop: trained without them, and RESULTS.md says how many were left out
    run_recipe(recipe, *small, "--stage", "3", "--stop_stage", "5",
               "--train_args", "train.epochs=1 labels.unknown=drop", timeout=900)
    results = (recipe / "RESULTS.md").read_text()
    assert (f"train: 'Ang' {len(lines['train'])}; valid: 'Ang' {len(lines['valid'])}") in results
