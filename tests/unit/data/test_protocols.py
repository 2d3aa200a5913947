"""Evaluation protocols: fold contents, speaker independence, coverage, written data dirs.

Prepared data dirs are built in memory with the speaker structure of the corpora whose fold rules
are checked here (IEMOCAP: 5 sessions x F/M; ESD: speakers 0011-0020 with the ReadMe's genders;
MELD/MOSEI: a utt2split column); EmoDB also runs on the real corpus when the EMODB variable points
at a copy. The expected folds below (which speaker tests and validates where) are written out by
hand from the protocol definitions. Every registered corpus, a new one included, is run through
all its protocols on its own fake copy in tests/corpora/test_registry.py; nothing here needs
editing for a new corpus.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from mer.bin import make_protocol
from mer.data.corpora import emodb, esd
from mer.data.datadir import DataDir
from mer.data.dialogues import dialogue_split_violations
from mer.data.corpora.registry import get_corpus
from mer.data.protocol_dirs import get_protocol, speaker_independent, write_protocol
from mer.data.protocols import ProtocolError, leave_groups_out, loso_protocol, random_split, split_column


EMODB_DIR = Path(os.environ.get("EMODB", "/nonexistent"))  # the real corpus, where EMODB points (.ci/run)
PARTS = ("train", "valid", "test")


def assert_valid(d: Path) -> None:
    from mer.data.validate import validate_data_dir

    assert validate_data_dir(d) == []


# ------------------------------------------------------------------ prepared data dirs, in memory
def fake_iemocap() -> DataDir:
    dd = DataDir()
    for s in range(1, 6):
        for g in "FM":
            spk = f"Ses0{s}_{g}"
            for i in range(3 + s + (g == "M")):  # unequal sizes, so a wrong grouping shows
                dialog = f"Ses0{s}{'M' if i % 2 else 'F'}_impro0{i % 3 + 1}"
                turn = f"{dialog}_{g}{i:03d}"
                dd.add(f"{spk}-{turn}", spk, wav=f"/c/{turn}.wav", text="hi", emo="neu",
                       gender=g.lower(), session=f"Ses0{s}", dialog=dialog, turn=f"{2.5 * i + (g == 'M'):.3f}")
    return dd


ESD_GENDER = {"0011": "m", "0012": "m", "0013": "m", "0014": "m", "0015": "f", "0016": "f",
              "0017": "f", "0018": "f", "0019": "f", "0020": "m"}


def fake_esd() -> DataDir:
    dd = DataDir()
    for spk, g in ESD_GENDER.items():
        for n in (1, 21, 51, 351, 371, 401):
            split = "valid" if (n - 1) % 350 < 20 else "test" if (n - 1) % 350 < 50 else "train"
            dd.add(f"{spk}_{n:06d}", spk, wav=f"/c/{spk}_{n:06d}.wav", text="x", emo="neutral",
                   gender=g, split=split)
    return dd


def fake_emodb() -> DataDir:
    dd = DataDir()
    for spk, g in emodb.SPEAKER_GENDER.items():
        for code in ("a01Wa", "b02Nc"):
            dd.add(f"{spk}{code}", spk, wav=f"/c/{spk}{code}.wav", text="x", emo="anger", gender=g)
    return dd


def fake_split_corpus(prefix: str, segments: bool = False) -> DataDir:
    """MELD/MOSEI-like: speakers shared by all splits; two rows in no standard fold. `segments`:
    MOSEI prepared with --samples emotion (utt2segment: here each sample its own segment)."""
    dd = DataDir()
    for i, split in enumerate(["train"] * 6 + ["valid"] * 3 + ["test"] * 3 + ["none"] * 2):
        dd.add(f"{prefix}-{i:03d}", f"spk{i % 3}", text="x", emo="neutral", split=split,
               **({"segment_id": f"{prefix}-{i:03d}"} if segments else {}))
    if segments:
        dd.extra["utt2segment"] = dd.extra.pop("utt2segment_id")
    return dd


def fake_synthetic() -> DataDir:
    """The demo generator's layout: speaker-disjoint utt2split."""
    dd = DataDir()
    for s, split in enumerate(["train"] * 4 + ["valid", "test"]):
        for i in range(3):
            dd.add(f"spk{s}-{i:04d}", f"spk{s}", text="x", emo="neu", split=split)
    return dd


FAKES = {"iemocap": fake_iemocap, "esd": fake_esd, "emodb": fake_emodb,
         "meld": lambda: fake_split_corpus("train"), "mosei": lambda: fake_split_corpus("vid", segments=True),
         "synthetic": fake_synthetic}


def folds_of(corpus: str, protocol: str, dd: DataDir, seed: int = 0):
    return get_protocol(corpus, protocol).make(dd, seed)


def speakers(dd: DataDir, utts) -> set[str]:
    return {dd.utt2spk[u] for u in utts}


# ------------------------------------------------------------------ every protocol of these corpora
ALL = [(c, p) for c in FAKES for p in get_corpus(c).protocols]


@pytest.mark.parametrize("corpus, protocol", ALL)
def test_parts_disjoint_and_speaker_independence(corpus, protocol):
    dd = FAKES[corpus]()
    folds = folds_of(corpus, protocol, dd)
    for fold in folds:
        parts = {p: set(fold.part(p)) for p in PARTS}
        assert all(parts.values())
        assert not parts["train"] & parts["test"] and not parts["train"] & parts["valid"]
        assert not parts["valid"] & parts["test"]
        spk = {p: speakers(dd, parts[p]) for p in PARTS}
        shared = (spk["train"] & spk["test"]) | (spk["train"] & spk["valid"]) | (spk["valid"] & spk["test"])
        if speaker_independent(corpus, protocol):
            assert not shared, f"fold shares speakers {shared}"
        else:
            # Say so only when it is so: on these data the speaker-dependent ones do share.
            assert shared


@pytest.mark.parametrize("corpus, protocol", [(c, p) for c, p in ALL if get_protocol(c, p).cross_validation])
def test_cross_validation_tests_every_utterance_once(corpus, protocol):
    dd = FAKES[corpus]()
    folds = folds_of(corpus, protocol, dd)
    tested = Counter(u for f in folds for u in f.test)
    assert set(tested) == set(dd.utt2spk) and set(tested.values()) == {1}
    for f in folds:  # and every fold uses every utterance somewhere
        assert sorted(f.train + f.valid + f.test) == sorted(dd.utt2spk)


def test_registry_keeps_the_protocols_of_these_corpora():
    """What the corpus modules declare is what the fixed tables said before the registry."""
    table = {(c, p): speaker_independent(c, p) for c, p in ALL}
    assert table == {("iemocap", "loso"): True, ("iemocap", "random"): False, ("iemocap", "si"): True,
                     ("iemocap", "sd"): False, ("esd", "lo2so"): True, ("esd", "official"): False, ("esd", "published"): False,
                     ("emodb", "loso"): True, ("meld", "official"): False, ("meld", "resplit"): False,
                     ("mosei", "official"): False, ("mosei", "resplit"): False,
                     ("synthetic", "fixed"): True}
    assert {c: get_corpus(c).default_protocol for c in FAKES} == {
        "iemocap": "loso", "esd": "lo2so", "emodb": "loso", "meld": "official", "mosei": "official",
        "synthetic": "fixed"}
    assert {(c, p) for c, p in ALL if get_protocol(c, p).cross_validation} == {
        ("iemocap", "loso"), ("esd", "lo2so"), ("emodb", "loso")}
    assert {(c, p) for c, p in ALL if get_protocol(c, p).seeded} == {
        ("iemocap", "random"), ("iemocap", "sd"), ("esd", "published"), ("meld", "resplit"), ("mosei", "resplit")}
    assert speaker_independent("esd", "default")
    with pytest.raises(ProtocolError, match="known: lo2so, published, official"):
        speaker_independent("esd", "loso")
    with pytest.raises(ProtocolError, match="unknown corpus 'nope'"):
        get_protocol("nope", "default")


def test_loso_protocol_by_column():
    """The one-line helper: leave one session out by the utt2session column, the next validates."""
    proto = loso_protocol(by="utt2session", name="loso_session")
    dd = fake_iemocap()
    folds = proto.make(dd, 0)
    assert len(folds) == 5 and "Leave one session out" in proto.description
    for k, fold in enumerate(folds, 1):
        assert {dd.extra["utt2session"][u] for u in fold.test} == {f"Ses0{k}"}
        assert {dd.extra["utt2session"][u] for u in fold.valid} == {f"Ses0{k % 5 + 1}"}
    with pytest.raises(ValueError, match="valid='previous'"):
        loso_protocol(valid="previous")
    two = dd.filter(lambda u: u.startswith(("Ses01", "Ses02")))
    with pytest.raises(ProtocolError, match="needs 3 sessions"):
        proto.make(two, 0)


# ------------------------------------------------------------------ IEMOCAP
def test_iemocap_loso_folds():
    dd = fake_iemocap()
    folds = folds_of("iemocap", "loso", dd)
    assert len(folds) == 5
    valid_speakers = ["Ses02_F", "Ses03_M", "Ses04_F", "Ses05_M", "Ses01_F"]
    for k, fold in enumerate(folds, 1):
        assert speakers(dd, fold.test) == {f"Ses0{k}_F", f"Ses0{k}_M"}
        assert speakers(dd, fold.valid) == {valid_speakers[k - 1]}
        assert len(speakers(dd, fold.train)) == 7
        assert {dd.extra["utt2session"][u] for u in fold.test} == {f"Ses0{k}"}


def test_iemocap_si():
    dd = fake_iemocap()
    (fold,) = folds_of("iemocap", "si", dd)
    assert speakers(dd, fold.valid) == {"Ses05_M"} and speakers(dd, fold.test) == {"Ses05_F"}
    assert {dd.extra["utt2session"][u] for u in fold.train} == {"Ses01", "Ses02", "Ses03", "Ses04"}
    assert len(fold.train) + len(fold.valid) + len(fold.test) == len(dd)


def test_iemocap_random_matches_memocmt_sizes():
    # MemoCMT's code: train_test_split(test_size=0.1) twice; on the 5,531-utterance corpus.
    utts = [f"u{i:05d}" for i in range(5531)]
    fold = random_split(utts, 0.1, 0.1, seed=0)
    sklearn = pytest.importorskip("sklearn.model_selection")
    rest, test = sklearn.train_test_split(utts, test_size=0.1, random_state=0)
    train, valid = sklearn.train_test_split(rest, test_size=0.1, random_state=0)
    assert (len(fold.train), len(fold.valid), len(fold.test)) == (len(train), len(valid), len(test))
    assert (len(fold.train), len(fold.valid), len(fold.test)) == (4479, 498, 554)


def test_random_splits_depend_on_seed_not_on_order():
    utts = [f"u{i:04d}" for i in range(500)]
    a = random_split(utts, 0.1, 0.1, seed=0)
    assert random_split(list(reversed(utts)), 0.1, 0.1, seed=0) == a
    assert random_split(utts, 0.1, 0.1, seed=1).test != a.test
    sd = random_split(utts, 0.1, 1 / 9, seed=0)
    assert (len(sd.train), len(sd.valid), len(sd.test)) == (400, 50, 50)


def test_iemocap_sd_is_80_10_10():
    dd = fake_iemocap()
    (fold,) = folds_of("iemocap", "sd", dd)
    n = len(dd)
    assert abs(len(fold.test) - n / 10) <= 1 and abs(len(fold.valid) - n / 10) <= 1


def test_missing_column_is_a_clear_error():
    dd = fake_iemocap()
    del dd.extra["utt2session"]
    with pytest.raises(ProtocolError, match="no utt2session"):
        folds_of("iemocap", "loso", dd)


# ------------------------------------------------------------------ ESD
def test_esd_lo2so_folds():
    dd = fake_esd()
    folds = folds_of("esd", "lo2so", dd)
    expected = [({"0011", "0015"}, "0016"), ({"0012", "0016"}, "0013"), ({"0013", "0017"}, "0018"),
                ({"0014", "0018"}, "0020"), ({"0020", "0019"}, "0015")]
    assert len(folds) == 5
    for fold, (test, valid) in zip(folds, expected):
        assert speakers(dd, fold.test) == test and speakers(dd, fold.valid) == {valid}
        genders = Counter(dd.extra["utt2gender"][u] for u in fold.test)
        assert genders["m"] == genders["f"] > 0  # one male + one female


def test_esd_lo2so_needs_gender_pairs():
    dd = fake_esd()
    dd = dd.filter(lambda u: not u.startswith("0019"))
    with pytest.raises(ProtocolError, match="5 male .* 4 female"):
        folds_of("esd", "lo2so", dd)


def test_esd_published_reproduces_memocmt_code():
    """The published code's steps, run here with sklearn itself on the full English ESD layout
    (10 speakers x 1,750 ids): the same train, valid and test utterances."""
    import random as pyrandom

    sklearn = pytest.importorskip("sklearn.model_selection")
    dd = DataDir()
    for spk in reversed(ESD_GENDER):  # insertion order must not matter
        for n in range(1, 1751):
            dd.add(f"{spk}_{n:06d}", spk, text="x", emo=esd.label_from_id(n), gender=ESD_GENDER[spk])
    # the code: each speaker's transcript lines in order, four classes kept, shuffled, split twice
    samples = [u for spk in sorted(ESD_GENDER) for u in sorted(dd.utt2spk)
               if u.startswith(spk) and dd.utt2emo[u] != "surprise"]
    labels = [dd.utt2emo[u] for u in samples]
    pairs = list(zip(samples, labels))
    pyrandom.Random(0).shuffle(pairs)
    samples, labels = zip(*pairs)
    train, test, train_labels, _ = sklearn.train_test_split(samples, labels, test_size=0.2, random_state=0)
    train, valid, _, _ = sklearn.train_test_split(train, train_labels, test_size=0.1, random_state=0)

    (fold,) = folds_of("esd", "published", dd)
    assert (set(fold.train), set(fold.valid), set(fold.test)) == (set(train), set(valid), set(test))
    assert (len(fold.train), len(fold.valid), len(fold.test)) == (10080, 1120, 2800)  # 72/8/20
    assert not any(dd.utt2emo[u] == "surprise" for u in fold.train + fold.valid + fold.test)
    assert speakers(dd, fold.test) == set(ESD_GENDER)  # not per speaker: all ten everywhere
    (other_seed,) = folds_of("esd", "published", dd, seed=1)
    assert set(other_seed.test) != set(fold.test)
    with pytest.raises(ProtocolError, match="no utterance labelled"):
        folds_of("esd", "published", dd.filter(lambda u: dd.utt2emo[u] == "surprise"))

def test_esd_published_writes_four_class_folds(tmp_path):
    dd = DataDir()
    for spk in ("0011", "0015"):
        for n in range(1, 1751, 35):  # every emotion block, surprise included
            dd.add(f"{spk}_{n:06d}", spk, wav=f"/c/{spk}_{n:06d}.wav", text="x", emo=esd.label_from_id(n),
                   gender=ESD_GENDER[spk])
    data = tmp_path / "all"
    dd.save(data)
    out = tmp_path / "published"
    assert write_protocol("esd", "published", data, out, seed=0) is True
    parts = {p: DataDir.load(out / "fold1" / p) for p in PARTS}
    assert sum(len(d) for d in parts.values()) == 80  # 2 x 50 ids, the 2 x 10 surprise ones in no part
    assert {e for d in parts.values() for e in d.utt2emo.values()} == set(esd.PUBLISHED_CLASSES)
    assert (len(parts["test"]), len(parts["valid"])) == (16, 7)  # ceil(0.2 * 80), ceil(0.1 * 64)
    assert "Random seed: 0." in (out / "README").read_text()

def test_official_uses_utt2split():
    (fold,) = folds_of("esd", "official", fake_esd())
    assert {u[-6:] for u in fold.valid} == {"000001", "000351"}
    assert {u[-6:] for u in fold.test} == {"000021", "000371"}
    assert {u[-6:] for u in fold.train} == {"000051", "000401"}
    fold, others = split_column(fake_split_corpus("x").extra["utt2split"])
    assert (len(fold.train), len(fold.valid), len(fold.test)) == (6, 3, 3) and others == {"none": 2}


def test_leave_groups_out_rejects_unknown_group():
    with pytest.raises(ProtocolError, match="no utterance of spkX"):
        leave_groups_out({"a": "s1", "b": "s2"}, [(["spkX"], ["s2"])])


# ------------------------------------------------------------------ EmoDB
def test_emodb_loso_valid_is_next_speaker():
    dd = fake_emodb()
    folds = folds_of("emodb", "loso", dd)
    order = ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]
    assert len(folds) == 10
    for k, fold in enumerate(folds):
        assert speakers(dd, fold.test) == {order[k]}
        assert speakers(dd, fold.valid) == {order[(k + 1) % 10]}


@pytest.mark.skipif(not (EMODB_DIR / "wav").is_dir(), reason=f"real EmoDB not found at {EMODB_DIR}")
def test_emodb_real_loso_written(tmp_path, capsys):
    data = tmp_path / "all"
    emodb.prepare(EMODB_DIR, data)
    out = tmp_path / "loso"
    assert make_protocol.main(["emodb", "loso", str(data), str(out)]) == 0
    sizes = {"03": 49, "08": 58, "09": 43, "10": 38, "11": 55, "12": 35, "13": 61, "14": 69,
             "15": 56, "16": 71}
    tested = []
    for k, spk in enumerate(sorted(sizes), 1):
        parts = {p: DataDir.load(out / f"fold{k}" / p) for p in PARTS}
        assert parts["test"].speakers == [spk] and len(parts["test"]) == sizes[spk]
        assert sum(len(d) for d in parts.values()) == 535
        assert not set(parts["train"].speakers) & (set(parts["test"].speakers) | set(parts["valid"].speakers))
        tested += parts["test"].utt2spk
        assert_valid(out / f"fold{k}" / "train")
    assert len(tested) == len(set(tested)) == 535


# ------------------------------------------------------------------ writing
def prepared(tmp: Path, corpus: str) -> Path:
    data = tmp / "data" / "all"
    FAKES[corpus]().save(data)
    (data / "labels").write_text("neu\nhap\n" if corpus == "iemocap" else "neutral\nanger\n")
    return data


def test_write_protocol_layout_and_readme(tmp_path):
    data = prepared(tmp_path, "iemocap")
    out = tmp_path / "data" / "loso"
    assert write_protocol("iemocap", "loso", data, out, command="make it") is True
    assert sorted(p.name for p in out.iterdir()) == [".done", "README", "fold1", "fold2", "fold3",
                                                     "fold4", "fold5", "labels"]
    whole = DataDir.load(data)
    for k in range(1, 6):
        for part in PARTS:
            d = out / f"fold{k}" / part
            assert_valid(d)
            sub = DataDir.load(d)
            # A complete data dir: every file of the source, restricted to the part.
            assert set(sub.extra) == {"utt2gender", "utt2session", "utt2dialog", "utt2turn"}
            assert all(sub.wav_scp[u] == whole.wav_scp[u] for u in sub.utt2spk)
            assert (d / "labels").read_text() == "neu\nhap\n"
    readme = (out / "README").read_text()
    assert "Speaker-independent: yes" in readme and "make it" in readme and "fold5:" in readme
    assert "Ses03_M" in readme  # fold2's valid speaker is named


def test_fold_dirs_carry_dialogues_and_loso_test_keeps_them_whole(tmp_path):
    data = prepared(tmp_path, "iemocap")
    write_protocol("iemocap", "loso", data, tmp_path / "loso")
    whole = DataDir.load(data)
    for k in range(1, 6):
        parts = {p: DataDir.load(tmp_path / "loso" / f"fold{k}" / p) for p in PARTS}
        for sub in parts.values():
            for name in ("utt2dialog", "utt2turn"):
                assert sub.extra[name] == {u: whole.extra[name][u] for u in sub.utts}
        # Test is a whole session; valid is one speaker of the next session, whose dialogues the
        # other speaker of that session trains on: those are cut, and only those.
        assert dialogue_split_violations({"train": parts["train"], "test": parts["test"]}) == []
        cut = dialogue_split_violations(parts)
        assert cut and {d[:5] for d in cut} == {f"Ses0{k % 5 + 1}"}


def test_write_protocol_readme_says_speaker_dependent(tmp_path):
    data = prepared(tmp_path, "iemocap")
    write_protocol("iemocap", "random", data, tmp_path / "random", seed=3)
    readme = (tmp_path / "random" / "README").read_text()
    assert "Speaker-independent: NO" in readme and "SPEAKER-DEPENDENT" in readme
    assert "seed: 3" in readme
    assert [p.name for p in (tmp_path / "random").glob("fold*")] == ["fold1"]


def test_write_protocol_reports_rows_in_no_split(tmp_path):
    data = prepared(tmp_path, "mosei")
    write_protocol("mosei", "official", data, tmp_path / "official")
    assert "none 2" in (tmp_path / "official" / "README").read_text()
    assert len(DataDir.load(tmp_path / "official" / "fold1" / "train")) == 6
    assert not DataDir.load(tmp_path / "official" / "fold1" / "test").wav_scp  # text-only stays so


def test_write_protocol_is_idempotent_and_rebuilds_on_change(tmp_path):
    data = prepared(tmp_path, "emodb")
    out = tmp_path / "loso"
    assert write_protocol("emodb", "loso", data, out) is True
    stamp = (out / "fold1" / "test" / "utt2spk").stat().st_mtime_ns
    os.utime(out / "fold1" / "test" / "utt2spk", ns=(stamp - 10**9, stamp - 10**9))
    assert write_protocol("emodb", "loso", data, out) is False  # nothing rewritten
    assert (out / "fold1" / "test" / "utt2spk").stat().st_mtime_ns == stamp - 10**9
    # Input changes (a speaker fewer): rebuilt, and the now surplus fold10 is gone.
    dd = DataDir.load(data).filter(lambda u: not u.startswith("16"))
    for f in data.iterdir():
        if f.name != "labels":
            f.unlink()
    dd.save(data)
    assert write_protocol("emodb", "loso", data, out) is True
    assert sorted(p.name for p in out.glob("fold*")) == [f"fold{k}" for k in range(1, 10)]
    assert json.loads((out / ".done").read_text())["protocol"] == "loso"


def test_write_protocol_seed_change_rebuilds(tmp_path):
    data = prepared(tmp_path, "iemocap")
    out = tmp_path / "sd"
    assert write_protocol("iemocap", "sd", data, out, seed=0)
    first = (out / "fold1" / "test" / "utt2spk").read_text()
    assert not write_protocol("iemocap", "sd", data, out, seed=0)
    assert write_protocol("iemocap", "sd", data, out, seed=1)
    assert (out / "fold1" / "test" / "utt2spk").read_text() != first


def test_make_protocol_cli(tmp_path, capsys):
    data = prepared(tmp_path, "esd")
    out = tmp_path / "lo2so"
    assert make_protocol.main(["esd", "default", str(data), str(out)]) == 0
    assert "lo2so (default)" in capsys.readouterr().out
    assert make_protocol.main(["esd", "lo2so", str(data), str(out)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert make_protocol.main(["esd", "loso", str(data), str(tmp_path / "x")]) == 2
    assert "no protocol 'loso' for esd" in capsys.readouterr().err
    assert make_protocol.main(["esd", "lo2so", str(tmp_path / "nothing"), str(tmp_path / "y")]) == 2
    assert "not a data directory" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
