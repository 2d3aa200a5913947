"""A fake IEMOCAP_full_release: six dialogs over the five sessions, every known pitfall of the
corpus (CRLF files, a damaged label line, per-annotator subfolders, AppleDouble junk, turns with no
wav, no label or no transcript line, a speaker letter that differs from the dialog letter)."""
from __future__ import annotations

from pathlib import Path

from mer.data.corpora.fakes import write_wav

# (turn, label, wav exists, transcript line: text, or None for no line)
IEMOCAP_DIALOGS = {
    "Ses01F_impro01": [
        ("Ses01F_impro01_F000", "neu", True, "[LAUGHTER] Hello  there."),
        ("Ses01F_impro01_M000", "ang", True, "Leave me alone."),        # dialog F, speaker M
        ("Ses01F_impro01_F001", "exc", True, "That is wonderful!"),     # exc -> hap
        ("Ses01F_impro01_M001", "xxx", True, "Well... maybe."),         # no agreement
        ("Ses01F_impro01_F002", "fru", True, "Not again -- please."),   # not a 4-class label
        ("Ses01F_impro01_M002", "sad", False, "I lost it."),            # labelled, no wav
    ],
    "Ses02M_impro05a": [
        ("Ses02M_impro05a_F014", "sad", True, "I asked you three times already."),
        ("Ses02M_impro05a_M015", "hap", True, "[BREATHING] Okay, okay."),
    ],
    "Ses02F_script01_2b": [
        ("Ses02F_script01_2b_M003", "neu", True, None),                 # no transcript line
    ],
    "Ses03M_script02_1": [
        ("Ses03M_script02_1_F000", "ang", True, "Get out."),
        ("Ses03M_script02_1_M000", "neu", True, "Fine."),
    ],
    "Ses04F_impro02": [
        ("Ses04F_impro02_F000", "hap", True, "Yes!"),
        ("Ses04F_impro02_M000", "sad", True, "No."),
        ("Ses04F_impro02_M001", "sur", True, "Really?"),
    ],
    "Ses05M_impro03": [
        ("Ses05M_impro03_F000", "neu", True, "Hi."),
        ("Ses05M_impro03_M000", "ang", True, "Stop it."),
        ("Ses05M_impro03_F001", "oth", True, "Hmm."),
        ("Ses05M_impro03_F002", "hap", True, "That is great news!"),  # an emotional turn in every test part
    ],
}


def _label_block(i: int, turn: str, label: str) -> str:
    start, end = 1.5 + 4 * i, 3.25 + 4 * i
    return (f"[{start:.4f} - {end:.4f}]\t{turn}\t{label}\t[2.5000, 3.0000, 3.5000]\n"
            f"C-E1:\tNeutral state;\t()\nC-E2:\tAnger; Frustration;\t(loud)\n"
            f"C-{turn[-4]}1:\tNeutral state;\t()\n"                       # the actor's self-rating
            f"A-E1:\tval 3; act 2; dom  2;\t()\nA-E2:\tval 3; act 2;\t()\n\n")


def write_fake(root: Path) -> Path:
    """IEMOCAP_full_release under `root` (returned): the dialogs above, with the corpus's pitfalls."""
    root = root / "IEMOCAP_full_release"
    for dialog, turns in IEMOCAP_DIALOGS.items():
        sess = root / f"Session{int(dialog[3:5])}"
        emo = sess / "dialog" / "EmoEvaluation"
        emo.mkdir(parents=True, exist_ok=True)
        header = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        blocks = "".join(_label_block(i, t, lab) for i, (t, lab, _, _) in enumerate(turns))
        lines = []
        for i, (turn, _, _, text) in enumerate(turns):
            if text is not None:
                lines.append(f"{turn} [{1.5 + 4 * i:08.4f}-{3.25 + 4 * i:08.4f}]: {text}\n")
            if i == 0:
                # A turn that has no wav and no label block (corpora.md: FXX0/MXX1 lines).
                lines.append(f"{dialog}_FXX0 [000.1000-000.9000]: [GARBAGE] mm\n")
        body = header + blocks
        trans = "".join(lines)
        if dialog == "Ses01F_impro01":  # CRLF copies (dos2unix in ESPnet)
            body, trans = body.replace("\n", "\r\n"), trans.replace("\n", "\r\n")
        if dialog == "Ses03M_script02_1":
            body += "[12.0000 - 13.5000]\tSes03M_script02_1_F009\n"  # a damaged summary line
        (emo / f"{dialog}.txt").write_bytes(body.encode("ascii"))
        (sess / "dialog" / "transcriptions").mkdir(parents=True, exist_ok=True)
        (sess / "dialog" / "transcriptions" / f"{dialog}.txt").write_bytes(trans.encode("ascii"))
        for turn, _, has_wav, _ in turns:
            if has_wav:
                write_wav(sess / "sentences" / "wav" / dialog / f"{turn}.wav")
    # Per-annotator detail in a subfolder: must not be read as labels. Its turn has a wav, so
    # reading it would add an utterance.
    s1 = root / "Session1"
    (s1 / "dialog" / "EmoEvaluation" / "Categorical").mkdir()
    (s1 / "dialog" / "EmoEvaluation" / "Categorical" / "Ses01F_impro01_e2_cat.txt").write_text(
        "[20.0000 - 21.0000]\tSes01F_impro01_F009\tang\t[1.0000, 1.0000, 1.0000]\n")
    write_wav(s1 / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_F009.wav")
    # macOS AppleDouble junk beside the label files.
    (s1 / "dialog" / "EmoEvaluation" / "._Ses01F_impro01.txt").write_bytes(b"\x00\x05\x16\x07junk")
    (root / "Documentation").mkdir()
    return root
