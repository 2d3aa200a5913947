"""The protocol audit: what a fold's parts share (speakers, sessions, dialogues, transcripts),
written beside every fold at stage 1, and a speaker-independent protocol that leaks refused."""
from __future__ import annotations

import json

from mer.bin import make_protocol
from mer.data.corpora import emodb
from mer.data.datadir import DataDir
from mer.data.protocol_audit import AUDIT_FILE, audit_fold, load_audits, normalise_text, protocol_summary
from mer.data.protocol_dirs import write_protocol
from mer.data.protocols import Fold


def two_sessions() -> DataDir:
    """Session A: speakers a1, a2 in dialogue A-d1; session B: b1 (dialogue B-d1), b2 (B-d2)."""
    dd = DataDir()
    rows = [("a1-0", "a1", "A", "A-d1", "Hello, there!"), ("a1-1", "a1", "A", "A-d1", "good bye"),
            ("a2-0", "a2", "A", "A-d1", "How are you?"), ("b1-0", "b1", "B", "B-d1", "hello there"),
            ("b1-1", "b1", "B", "B-d1", "Something new."), ("b2-0", "b2", "B", "B-d2", "how ARE you"),
            ("b2-1", "b2", "B", "B-d2", "")]
    for utt, spk, session, dialog, text in rows:
        dd.add(utt, spk, text=text, emo="neu", session=session, dialog=dialog, turn="0")
    return dd


def test_normalise_text_ignores_case_punctuation_and_spacing():
    assert normalise_text("  Hello,   THERE!\t") == "hello there"
    assert normalise_text("It's — “fine”.") == "it s fine"
    assert normalise_text("...") == ""


def test_audit_counts_what_the_parts_share():
    dd = two_sessions()
    # train: session A; valid: b1; test: b2 (same session as valid, its own dialogue).
    fold = Fold(("a1-0", "a1-1", "a2-0"), ("b1-0", "b1-1"), ("b2-0", "b2-1"))
    audit = audit_fold(dd, fold)
    assert audit["parts"]["train"] == {"utts": 3, "speakers": 2} and audit["parts"]["test"]["speakers"] == 1
    assert all(not v for v in audit["shared"]["speakers"].values())
    assert audit["shared"]["sessions"] == {"train-valid": [], "train-test": [], "valid-test": ["B"]}
    assert all(not v for v in audit["shared"]["dialogues"].values())
    # b2-0 "how ARE you" is a2-0 "How are you?" once normalised; b2-1 has no transcript.
    assert audit["text_in_train"] == {"test_with_text": 1, "also_in_train": 1, "share": 1.0}
    assert audit["valid_is_test"] is False

    # A speaker-dependent split: b1 in train and test, its dialogue cut.
    leaky = Fold(("a1-0", "b1-0"), ("a2-0",), ("a1-1", "b1-1", "b2-0"))
    audit = audit_fold(dd, leaky)
    assert audit["shared"]["speakers"] == {"train-valid": [], "train-test": ["a1", "b1"], "valid-test": []}
    assert audit["shared"]["dialogues"]["train-test"] == ["A-d1", "B-d1"]
    assert audit["shared"]["sessions"]["valid-test"] == ["A"]
    assert audit["text_in_train"]["also_in_train"] == 0 and audit["text_in_train"]["test_with_text"] == 3
    assert audit_fold(dd, Fold(("a1-0",), ("b1-0",), ("b1-0",)))["valid_is_test"] is True


def test_audit_of_a_corpus_without_sessions_or_transcripts():
    dd = DataDir()
    for i in range(4):
        dd.add(f"s{i}-0", f"s{i}", emo="neu")
    audit = audit_fold(dd, Fold(("s0-0", "s1-0"), ("s2-0",), ("s3-0",)))
    assert set(audit["shared"]) == {"speakers"}
    assert audit["text_in_train"] == {"test_with_text": 0, "also_in_train": 0, "share": None}
    assert "no transcripts" in protocol_summary({"fold1": {**audit, "speaker_independent": True}})


def iemocap_like(tmp_path):
    """Five sessions of two speakers; every session reads the same two sentences (a script)."""
    dd = DataDir()
    for s in range(1, 6):
        for g in "FM":
            spk = f"Ses0{s}_{g}"
            for i, text in enumerate(["Excuse me.", "Next in line?", f"only {spk} says this"]):
                dialog = f"Ses0{s}_script0{i % 2}"
                dd.add(f"{spk}-{i:03d}", spk, wav=f"/c/{spk}{i}.wav", text=text, emo="neu", gender=g.lower(),
                       session=f"Ses0{s}", dialog=dialog, turn=f"{i + (g == 'M') / 2:.1f}")
    data = tmp_path / "all"
    dd.save(data)
    (data / "labels").write_text("neu\nhap\n")
    return data


def test_stage1_writes_an_audit_per_fold_and_prints_it(tmp_path, capsys):
    data = iemocap_like(tmp_path)
    out = tmp_path / "loso"
    assert make_protocol.main(["iemocap", "loso", str(data), str(out)]) == 0
    printed = [ln for ln in capsys.readouterr().out.splitlines() if "audit fold" in ln]
    audits = load_audits(out)
    assert list(audits) == [f"fold{k}" for k in range(1, 6)] and len(printed) == 5
    for k, audit in enumerate(audits.values(), 1):
        assert audit["protocol"] == "loso" and audit["speaker_independent"] is True
        assert all(not v for v in audit["shared"]["speakers"].values())
        # valid is one speaker of the next session, whose partner trains: that session is shared
        assert audit["shared"]["sessions"]["train-valid"] == [f"Ses0{k % 5 + 1}"]
        # 2 of the 3 test sentences of each speaker are read in every session
        assert audit["text_in_train"] == {"test_with_text": 6, "also_in_train": 4, "share": 4 / 6}
    assert "speakers 0" in printed[0] and "66.7 % (4/6)" in printed[0] and "valid is not test" in printed[0]
    summary = protocol_summary(audits)
    assert summary.startswith("5 fold(s), speaker-independent: shared speakers 0 in every fold; "
                              "shared sessions up to 1 per fold (train-valid 1)")
    assert "test transcripts also in train 66.7 %" in summary

    # Folds made before the audit existed get theirs on an up-to-date rerun, the folds untouched.
    for audit_file in out.glob(f"fold*/{AUDIT_FILE}"):
        audit_file.unlink()
    before = (out / "fold1" / "test" / "utt2spk").stat().st_mtime_ns
    assert write_protocol("iemocap", "loso", data, out) is False
    assert len(load_audits(out)) == 5 and (out / "fold1" / "test" / "utt2spk").stat().st_mtime_ns == before


def test_speaker_dependent_protocol_reports_its_shared_speakers(tmp_path):
    data = iemocap_like(tmp_path)
    write_protocol("iemocap", "random", data, tmp_path / "random")
    audit = json.loads((tmp_path / "random" / "fold1" / AUDIT_FILE).read_text())
    assert audit["speaker_independent"] is False
    test_speakers = {DataDir.load(tmp_path / "random" / "fold1" / "test").utt2spk[u]
                     for u in DataDir.load(tmp_path / "random" / "fold1" / "test").utts}
    train = DataDir.load(tmp_path / "random" / "fold1" / "train")
    assert audit["shared"]["speakers"]["train-test"] == sorted(test_speakers & set(train.utt2spk.values()))
    assert protocol_summary({"fold1": audit}).startswith("1 fold(s), not speaker-independent")


def test_a_protocol_made_to_leak_is_refused_at_stage1_naming_the_speaker(leaky_corpus, tmp_path, capsys):
    name, _ = leaky_corpus
    data = tmp_path / "all"
    emodb.prepare(emodb.write_fake(tmp_path / "corpus"), data)
    out = tmp_path / "leaky"
    assert make_protocol.main([name, "leaky", str(data), str(out)]) == 2
    err = capsys.readouterr().err
    speakers = DataDir.load(data).speakers
    assert "make_protocol: error: fold1: speaker(s) " in err and "in both train and valid" in err
    named = err.split("speaker(s) ")[1].split(" in both")[0].split(", ")
    assert named and set(named) <= set(speakers)
    assert "'leaky' is declared speaker-independent" in err
    assert not out.exists()  # nothing written, no audit of folds that were refused
