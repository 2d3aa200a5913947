"""A trained fold's model outside the recipe, on its held-out speaker: packed, then run by mer-recognize
(a) on the speaker's wav.scp with its utt2spk (the speaker given: normalised over its recordings, as
in training), and (b) one recording at a time without a speaker (a speaker-normalised model then
uses the training speakers' statistics kept in the pack). Both are compared with the fold's
decode_test dir: the largest posterior difference and UA.

    python local/check_deploy.py exp/loso/<config tag>/fold<k> [--out exp/deploy/<name>]

Prints one line per way and writes deploy.json in --out (default: <fold dir>/deploy_check).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from mer.data.kaldi_io import read_kv
from mer.metrics import score
from mer.scoring.decode_dir import load_decode_dir
from mer.utils.fileio import write_json_atomic


def recognize(pack: Path, inputs: list[str], log: Path) -> dict[str, dict]:
    """utt -> mer-recognize's JSON line (the wav.scp id, or the file path)."""
    out = subprocess.run([sys.executable, "-m", "mer.bin.recognize", "--model", str(pack), *inputs],
                         capture_output=True, text=True)
    log.write_text(out.stderr)
    if out.returncode != 0:
        sys.exit(f"check_deploy: mer-recognize failed (exit {out.returncode}); its stderr: {log}")
    return {r["utt"]: r for r in map(json.loads, out.stdout.splitlines())}


def compare(name: str, got: dict[str, dict], decode, refs: dict[str, str]) -> dict:
    utts = decode.utts
    post = np.array([[got[u]["posteriors"][c] for c in decode.classes] for u in utts])
    preds = [decode.classes[i] for i in post.argmax(1)]
    gold = [refs[u] for u in utts]
    ua = score(gold, preds, labels=decode.classes, metrics=["ua"])["ua"]
    ref_ua = score(gold, decode.preds, labels=decode.classes, metrics=["ua"])["ua"]
    row = {"way": name, "utts": len(utts), "ua": 100 * ua, "decode_dir_ua": 100 * ref_ua,
           "max_abs_posterior_difference": float(np.abs(post - decode.posteriors).max()),
           "differs": sorted({k for u in utts for k in got[u].get("differs", {})})}
    print(f"{name}: {len(utts)} recordings, UA {row['ua']:.2f} (decode dir {row['decode_dir_ua']:.2f}), "
          f"largest posterior difference {row['max_abs_posterior_difference']:.2e}, differs: {row['differs']}")
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("fold_dir", type=Path)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    fold = args.fold_dir
    protocol = fold.parent.parent.name
    test = Path("data") / protocol / fold.name / "test"
    out = args.out or fold / "deploy_check"
    out.mkdir(parents=True, exist_ok=True)
    pack = out / "model.tar.gz"
    subprocess.run([sys.executable, "-m", "mer.bin.pack", str(fold), str(pack)], check=True)
    decode = load_decode_dir(fold / "decode_test")
    refs = read_kv(test / "utt2emo")
    wavs = read_kv(test / "wav.scp")
    rows = [compare("speaker given (wav.scp + utt2spk)", recognize(pack, [str(test / "wav.scp")], out / "given.log"),
                    decode, refs)]
    alone = recognize(pack, [wavs[u] for u in decode.utts], out / "alone.log")
    rows.append(compare("one at a time, no speaker", {u: alone[wavs[u]] for u in decode.utts}, decode, refs))
    write_json_atomic(out / "deploy.json", {"fold_dir": str(fold), "test_dir": str(test), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
