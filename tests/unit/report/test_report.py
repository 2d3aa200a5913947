"""mer.bin.report: one self-contained HTML page of a recipe's results (or of every recipe's)."""
from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import numpy as np
from matplotlib import image as mpimg

from mer.bin import report
from tests.helpers.page import Page
from tests.helpers.results import scored_recipe, write_audit

ODD = "sys<b>&\"x\""  # a config name that must be escaped
PUBLISHED = [
    {"paper": "memocmt", "table": "Table 1", "row": "beside alpha", "protocol": "loso", "classes": 4,
     "modalities": "speech+text", "configs": "alpha", "ua": 81.33, "wa": 81.85},
    {"paper": "other", "row": "random split", "protocol": "random", "classes": 4, "modalities": "speech+text",
     "ua": 70.0},
    {"paper": "other", "row": "no such run", "protocol": "lopo", "classes": 4, "modalities": "speech+text", "ua": 65.0},
    {"paper": "other", "row": "unstated", "protocol": "loso", "ua": 60.0},
]


def draw(path: Path, seed: int) -> Path:
    """A small real PNG (what stage 6's figures are to the page: files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mpimg.imsave(path, np.random.default_rng(seed).random((6, 9)))
    return path


def recipe_with_figures(root: Path) -> tuple[Path, set[str]]:
    """Three systems under loso, one under random; stage 6's figure layout; returns the names of the
    figures the page must show (each once)."""
    recipe = root / "egs" / "toy" / "memocmt"
    systems = [("loso", "alpha"), ("loso", "beta"), ("loso", ODD), ("random", "alpha")]
    scored_recipe(recipe, systems, published=PUBLISHED)
    write_audit(recipe, "loso")
    shown = set()
    for i, (protocol, config) in enumerate(systems):
        for j, kind in enumerate(("confusion", "roc", "tsne", "layer_weights", "fusion_weights")):
            shown.add(draw(recipe / "exp" / protocol / config / "plots" / f"{protocol}_{config}_pooled_test_{kind}.png",
                           10 * i + j).name)
    side = recipe / "exp" / "loso" / "plots_test"
    shown |= {draw(side / f"confusion_side_by_side_p{k}.png", 100 + k).name for k in (1, 2)}
    shown.add(draw(side / "tsne_side_by_side.png", 200).name)
    own = "loso_alpha_pooled_test_confusion.png"  # stage 6 draws each system's own there too
    shutil.copy(recipe / "exp" / "loso" / "alpha" / "plots" / own, side / own)
    return recipe, shown


def main_table(page: Page) -> list[tuple[str, list[str]]]:
    return page.tables_headed("config", "protocol", "folds")[0]


def test_page_has_every_system_row_the_comparable_published_row_and_every_figure_inlined(tmp_path, capsys):
    recipe, shown = recipe_with_figures(tmp_path)
    assert report.main([str(recipe)]) == 0
    text = (recipe / "report.html").read_text(encoding="utf-8")
    page = Page(text)

    rows = main_table(page)
    results = [cells for cls, cells in rows if cls != "published"]
    assert [(c[0], c[1]) for c in results] == [("alpha", "loso"), ("alpha", "random"), ("beta", "loso"),
                                              (ODD, "loso")]
    assert all(re.fullmatch(r"\d+\.\d\d ± \d+\.\d\d", c[5]) for c in results)  # UA mean ± std of 2 folds
    # each published number stands right under the one row it may be compared with, and nowhere else
    published = {cells[0]: rows[i - 1][1][:2] for i, (cls, cells) in enumerate(rows) if cls == "published"}
    assert published == {"published: memocmt Table 1 beside alpha": ["alpha", "loso"],
                         "published: other random split": ["alpha", "random"]}
    assert "81.33" in next(cells for cls, cells in rows if cls == "published")
    # the others say why they are compared with none
    why = {item.split(":", 1)[0]: item.split(":", 1)[1].strip() for item in page.items if item.startswith("other")}
    assert why == {"other no such run": "none: no run under protocol lopo here",
                   "other unstated": "not stated (add classes and modalities to the entry)"}
    # the audit of stage 1
    assert any(item.startswith("loso: 2 fold(s), speaker-independent") for item in page.items)

    # every figure once, inlined as a PNG data URI (the copy in plots_test/ not twice)
    srcs = [img["src"] for img in page.images]
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert all(img["alt"] for img in page.images)  # the caption, also under the figure
    assert any(img["alt"].startswith("confusion side by side: ") and "page 2" in img["alt"] for img in page.images)
    decoded = [base64.b64decode(s.split(",", 1)[1]) for s in srcs]
    assert all(d.startswith(b"\x89PNG\r\n\x1a\n") for d in decoded)
    files = {p.read_bytes(): p.name for p in recipe.glob("exp/**/*.png") if p.name in shown}
    assert sorted(files[d] for d in decoded) == sorted(shown)
    assert "file:" not in text and "http" not in text.replace("http-equiv", "")
    # escaped everywhere: the raw name never reaches the HTML, its text does
    assert ODD not in text and "sys&lt;b&gt;&amp;&quot;x&quot;" in text
    # per-fold bars of every system and test set
    bars = page.tables_headed("fold", "utts")
    assert len(bars) == 4 and all([c[0] for _, c in t] == ["fold1", "fold2"] for t in bars)
    assert "wrote" in capsys.readouterr().out


def test_all_recipes_in_one_page_naming_the_ones_without_results(tmp_path, capsys):
    egs = tmp_path / "egs"
    scored_recipe(egs / "toy" / "one", [("loso", "alpha")])
    scored_recipe(egs / "toy" / "two", [("fixed", "beta"), ("fixed", "gamma")])
    (egs / "toy" / "none").mkdir()
    (egs / "toy" / "none" / "run.sh").write_text("")
    out = tmp_path / "all.html"
    assert report.main(["--all", str(egs), "--out", str(out)]) == 0
    page = Page(out.read_text(encoding="utf-8"))
    overview = page.tables_headed("recipe")[0]
    assert [(c[0], c[2], c[3]) for _, c in overview] == [("toy/one", "alpha", "loso"), ("toy/two", "beta", "fixed"),
                                                            ("toy/two", "gamma", "fixed")]
    assert any("none: no results" in item for item in page.items)
    assert "none: no results" in capsys.readouterr().err


def test_unreadable_results_are_named_and_the_other_recipes_still_shown(tmp_path, capsys):
    egs = tmp_path / "egs"
    scored_recipe(egs / "toy" / "good", [("loso", "alpha")])
    bad = scored_recipe(egs / "toy" / "bad", [("loso", "alpha")])[0]
    (bad / "scores_test.json").write_text("{not json")
    out = tmp_path / "all.html"
    assert report.main(["--all", str(egs), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{bad / 'scores_test.json'}: not valid JSON" in err
    page = Page(out.read_text(encoding="utf-8"))
    assert [c[0] for _, c in main_table(page)] == ["alpha"]
    assert any("bad: results not readable" in item for item in page.items)


def test_one_recipe_without_scores_gets_a_page_saying_so(tmp_path):
    assert report.main([str(tmp_path)]) == 0
    assert "No scores_&lt;set&gt;.json" in (tmp_path / "report.html").read_text(encoding="utf-8")
