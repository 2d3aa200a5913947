"""A fake ESD ("Emotion Speech Dataset" as unzipped): the ten English speakers, sentence positions
1, 21 and 51 of each emotion block, transcripts in every encoding the release uses (UTF-8 with and
without BOM, UTF-16 both ways, Latin-1), malformed lines, split folders and flat folders, a
Mandarin speaker to ignore and AppleDouble junk."""
from __future__ import annotations

import codecs
from pathlib import Path

from mer.data.corpora.fakes import write_wav

ESD_SENTENCES = {1: "The kettle is not on the stove.", 21: "Tom saw night as it were broad daylight.",
                 51: "Let the glass globe be."}
ESD_EMOTIONS = ("Neutral", "Angry", "Happy", "Sad", "Surprise")
ESD_README = ("The ESD database ...\n\n" + "".join(f"00{i:02d}: Chinese {'Female' if i % 2 else 'Male'}\n"
                                                    for i in range(1, 11))
              + "\n" + "".join(f"{s}: English {g}\n" for s, g in [
                  ("0011", "Male"), ("0012", "Male"), ("0013", "Male"), ("0014", "Male"),
                  ("0015", "Female"), ("0016", "Female"), ("0017", "Female"), ("0018", "Female"),
                  ("0019", "Female"), ("0020", "Male")]) + "\nresearch purpose only\n")
ESD_ENCODINGS = {"0011": "utf-8", "0012": "utf-16", "0013": "utf-8-sig", "0014": "utf-16",
                 "0015": "utf-8", "0016": "latin-1", "0017": "latin-1", "0018": "utf-16",
                 "0019": "utf-16-be-bom", "0020": "utf-8"}


def encode(text: str, encoding: str) -> bytes:
    if encoding == "utf-16-be-bom":
        return codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    return text.encode(encoding)  # "utf-16" writes a BOM, "utf-8-sig" too


def esd_ids(spk: str) -> list[tuple[str, str, int]]:
    """(utt, Emotion folder, position in the 350-block) of the miniature: positions 1, 21, 51."""
    return [(f"{spk}_{b * 350 + pos:06d}", emo, pos) for b, emo in enumerate(ESD_EMOTIONS)
            for pos in (1, 21, 51)]


def write_fake(root: Path, readme: str | None = ESD_README) -> Path:
    """"Emotion Speech Dataset" under `root` (returned): the ten English speakers, three sentence
    positions per emotion, with the pitfalls above; `readme=None` leaves out ReadMe.txt."""
    root = root / "Emotion Speech Dataset"  # the zip's folder name, with spaces
    root.mkdir(parents=True)
    if readme is not None:
        (root / "ReadMe.txt").write_text(readme)
    for spk, encoding in ESD_ENCODINGS.items():
        flat = spk >= "0016"
        lines = []
        for utt, emo, pos in esd_ids(spk):
            split = {1: "evaluation", 21: "test", 51: "train"}[pos]
            if utt == "0013_000051":
                split = "evaluation"  # a file in another split folder than the id rule says
            write_wav(root / spk / emo / (f"{utt}.wav" if flat else f"{split}/{utt}.wav"))
            text = ESD_SENTENCES[pos]
            if spk == "0016" and pos == 51:
                text = "Let the glass globe be, café."  # latin-1 byte 0xE9
            lines.append(f"{utt}\t{text}\t{emo}\n")
        if spk == "0011":
            lines.insert(3, "\n")                                    # blank line
            lines.append("0011_000999\tA line without audio.\tHappy\n")  # no wav
            lines[0] = lines[0].rstrip("\n") + "   \r\n"              # trailing spaces, CRLF
        if spk == "0015":
            lines[0] = "0015_000001\tThe kettle is not on the stove.\n"            # 2 fields
            lines[1] = "0015_000021\tTom saw night as it were broad daylight. Neutral\n"  # glued
            lines[2] = "0015_000051\tLet the glass\tglobe be.\tNeutral\n"          # 4 fields
            lines[3] = "0015_000351\n"                                            # id only
            lines.append("### garbage line\n")
        if spk == "0017":
            lines = [ln for ln in lines if not ln.startswith("0017_000701")]      # no line
        (root / spk / f"{spk}.txt").write_bytes(encode("".join(lines), encoding))
    # Mandarin speaker folder: ignored (English recipe), and a junk AppleDouble file.
    write_wav(root / "0001" / "Angry" / "train" / "0001_000351.wav")
    (root / "0011" / "Angry" / "train" / "._0011_000351.wav").write_bytes(b"\x00\x05\x16\x07")
    return root
