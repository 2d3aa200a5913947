"""CMU-MOSEI standard folds (train 2,249 / valid 300 / test 678 video ids in the SDK).

The lists live in the CMU-MultimodalSDK,
`mmsdk/mmdatasdk/dataset/standard_datasets/CMU_MOSEI/cmu_mosei_std_folds.py`, as three Python
assignments `standard_train_fold=[...]`, `standard_valid_fold=[...]`, `standard_test_fold=[...]`.
They are not copied into this repository; give the preparation a folds file with `--folds-file FILE`
(or let it find one: `find_folds_file`):

  * the SDK file itself (read with `ast.literal_eval`, never executed), or
  * JSON `{"train": [...], "valid": [...], "test": [...]}` made from it once with
        python -m mer.data.corpora.mosei_folds /path/to/cmu_mosei_std_folds.py > mosei_folds.json

Video ids are strings everywhere (459 are purely numeric, e.g. "81406"; some start with "-").
A JSON number is accepted as an id but reported, since "081406" would have become 81406.
"""
from __future__ import annotations

import ast
import json
import os
import sys
from pathlib import Path

FOLDS = ("train", "valid", "test")
FILE_NAMES = ("mosei_folds.json", "cmu_mosei_std_folds.py")
SEARCH_DEPTH = 4  # folders below the corpus dir searched for a folds file
SDK_NAMES = {"standard_train_fold": "train", "standard_valid_fold": "valid", "standard_test_fold": "test"}


class FoldsError(ValueError):
    """A folds file that cannot be used; the message names the file and the problem."""


def _from_sdk_py(path: Path, text: str) -> dict[str, list]:
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as e:
        raise FoldsError(f"{path}:{e.lineno}: not JSON and not Python either ({e.msg})") from None
    found: dict[str, list] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in SDK_NAMES:
                try:
                    value = ast.literal_eval(node.value)
                except ValueError:
                    raise FoldsError(f"{path}:{node.lineno}: {name} is not a literal list") from None
                found[SDK_NAMES[name]] = value
    return found


def load_folds(path: str | Path) -> dict[str, list[str]]:
    """{'train': [...], 'valid': [...], 'test': [...]} from a JSON or SDK folds file.

    Raises FoldsError when a fold is missing, a list holds something other than ids, an id repeats
    or a video is in two folds.
    """
    path = Path(path)
    if not path.is_file():
        raise FoldsError(f"{path}: folds file not found")
    text = path.read_text(encoding="utf-8-sig")
    try:
        raw = json.loads(text)
        kind = "JSON"
    except json.JSONDecodeError:
        raw = _from_sdk_py(path, text)
        kind = "SDK Python"
    if not isinstance(raw, dict):
        raise FoldsError(f"{path}: expected an object with keys {', '.join(FOLDS)}")
    missing = [f for f in FOLDS if f not in raw]
    if missing:
        raise FoldsError(f"{path}: {kind} folds file lacks {', '.join(missing)} "
                         f"(keys found: {', '.join(map(str, raw)) or 'none'})")
    folds: dict[str, list[str]] = {}
    where: dict[str, str] = {}
    for fold in FOLDS:
        ids = raw[fold]
        if not isinstance(ids, list):
            raise FoldsError(f"{path}: fold {fold} is not a list")
        out = []
        for i, vid in enumerate(ids):
            if isinstance(vid, bool) or not isinstance(vid, (str, int)):
                raise FoldsError(f"{path}: fold {fold}, item {i}: {vid!r} is not a video id")
            vid = str(vid).strip()
            if not vid or any(c.isspace() for c in vid):
                raise FoldsError(f"{path}: fold {fold}, item {i}: {vid!r} is empty or has white space")
            if vid in where:
                raise FoldsError(f"{path}: video {vid} is in {where[vid]} and again in {fold}")
            where[vid] = fold
            out.append(vid)
        folds[fold] = out
    return folds


def find_folds_file(corpus_dir: str | Path) -> Path | None:
    """The first folds file (FILE_NAMES, paths in C order) up to SEARCH_DEPTH folders below
    `corpus_dir`, else beside it (in its parent), else None. Links are followed."""
    corpus_dir = Path(corpus_dir)
    found = []
    for top, dirs, files in os.walk(corpus_dir, followlinks=True):
        depth = len(Path(top).relative_to(corpus_dir).parts)
        if depth >= SEARCH_DEPTH - 1:
            dirs.clear()
        found += [os.path.join(top, f) for f in files if f in FILE_NAMES]
    if not found:
        found = [str(corpus_dir.parent / f) for f in FILE_NAMES if (corpus_dir.parent / f).is_file()]
    return Path(min(found, key=lambda p: p.encode())) if found else None


def numeric_ids_in_json(path: str | Path) -> int:
    """How many ids of a JSON folds file are JSON numbers (0 for an SDK file)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError:
        return 0
    return sum(isinstance(v, int) and not isinstance(v, bool)
               for f in FOLDS if isinstance(raw.get(f), list) for v in raw[f])


def video_to_fold(folds: dict[str, list[str]]) -> dict[str, str]:
    return {vid: fold for fold in FOLDS for vid in folds[fold]}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python -m mer.data.corpora.mosei_folds cmu_mosei_std_folds.py > mosei_folds.json",
              file=sys.stderr)
        return 2
    try:
        folds = load_folds(argv[0])
    except FoldsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    json.dump(folds, sys.stdout, indent=1)
    sys.stdout.write("\n")
    print(" ".join(f"{f} {len(folds[f])}" for f in FOLDS), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
