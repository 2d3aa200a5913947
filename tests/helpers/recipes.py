"""Run a recipe of egs/ in a temporary copy, as a user would run it in place.

The copy keeps the recipe's relative symlinks working: egs/TEMPLATE and utils/ in the temporary
tree point back at the repository, so the shared driver and the package are the real ones.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.helpers import REPO


def copy_recipe(tmp: Path, recipe: str) -> Path:
    root = tmp / "repo"
    (root / "egs").mkdir(parents=True, exist_ok=True)
    if not (root / "utils").exists():
        (root / "utils").symlink_to(REPO / "utils")
        (root / "egs" / "TEMPLATE").symlink_to(REPO / "egs" / "TEMPLATE")
    dst = root / "egs" / recipe
    shutil.copytree(REPO / "egs" / recipe, dst, symlinks=True,
                    ignore=shutil.ignore_patterns("data", "dump", "exp", "RESULTS.md"))
    _copy_link_targets(root, dst)
    return dst


def _copy_link_targets(root: Path, dst: Path) -> None:
    """A recipe may link into a sibling recipe (iemocap/mf_la's local/data.sh is iemocap/memocmt's):
    copy such targets to the same place in the temporary tree, so the links resolve there too."""
    for link in [p for p in dst.rglob("*") if p.is_symlink()]:
        if link.exists():
            continue
        source = (REPO / link.relative_to(root)).parent / link.readlink()
        rel = Path(os.path.normpath(source)).relative_to(REPO)
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)


def run_recipe(recipe_dir: Path, *args: str, env: dict | None = None, timeout: int = 900,
               check: bool = True) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
                "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", **(env or {})}
    proc = subprocess.run(["./run.sh", *args], cwd=recipe_dir, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"./run.sh {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


def setup_recipe(tmp: Path, corpus: str, site: Path) -> tuple[Path, dict[str, str], str]:
    """A recipe made by egs/TEMPLATE/emo1/setup.sh for `corpus`, a corpus of another package
    installed in `site`: (recipe dir, the environment that finds the corpus, setup.sh's stdout)."""
    env = {"PYTHONPATH": f"{REPO}:{site}"}
    recipe = tmp / "egs" / corpus / "audio"
    proc = subprocess.run([str(REPO / "egs/TEMPLATE/emo1/setup.sh"), str(recipe), "--corpus", corpus],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **env})
    assert proc.returncode == 0, proc.stderr
    return recipe, env, proc.stdout
