"""A trained fold's model outside the recipe, on its held-out speaker: packed, then run by mer-recognize
(a) on the speaker's wav.scp with its utt2spk (the speaker given: normalised over its recordings, as
in training), and (b) one recording at a time without a speaker (a speaker-normalised model then
uses the training speakers' statistics kept in the pack). Both are compared with the fold's
decode_test dir: the largest posterior difference and UA.

    python local/check_deploy.py exp/loso/<config tag>/fold<k> [...] [--out exp/deploy/<name>]

Prints one line per way and writes deploy.json in --out (default: <fold dir>/deploy_check; with
several fold dirs, <out>/<fold>); with several, then a Markdown table of every fold and the mean.
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


def check(fold: Path, out: Path) -> dict:
    """Pack the fold's model, recognise its test speaker both ways; deploy.json's content."""
    protocol = fold.parent.parent.name
    test = Path("data") / protocol / fold.name / "test"
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
    speakers = sorted(set(read_kv(test / "utt2spk").values()))
    result = {"fold_dir": str(fold), "test_dir": str(test), "speakers": speakers, "rows": rows}
    write_json_atomic(out / "deploy.json", result)
    return result


def table(results: list[dict]) -> str:
    """Every fold's UA three ways, in %, and their means; the differences from the decode dir."""
    lines = ["| fold | test speaker | recordings | decode_test | speaker given | one at a time, no speaker |",
             "|---|---|---|---|---|---|"]
    sums = np.zeros(3)
    for r in results:
        given, alone = r["rows"]
        uas = np.array([given["decode_dir_ua"], given["ua"], alone["ua"]])
        sums += uas
        lines.append(f"| {Path(r['fold_dir']).name[4:]} | {' '.join(r['speakers'])} | {given['utts']} | "
                     f"{uas[0]:.2f} | {uas[1]:.2f} ({uas[1] - uas[0]:+.2f}) | {uas[2]:.2f} ({uas[2] - uas[0]:+.2f}) |")
    m = sums / len(results)
    lines.append(f"| mean | | | {m[0]:.2f} | {m[1]:.2f} ({m[1] - m[0]:+.2f}) | {m[2]:.2f} ({m[2] - m[0]:+.2f}) |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("fold_dir", type=Path, nargs="+")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    if len(args.fold_dir) == 1:
        check(args.fold_dir[0], args.out or args.fold_dir[0] / "deploy_check")
        return 0
    results = [check(f, args.out / f.name if args.out else f / "deploy_check") for f in args.fold_dir]
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
