"""The report page opened in headless Chromium: a screenshot that shows something, and the rendered
DOM holding every results row and every figure, decoded."""
from __future__ import annotations

import base64

import numpy as np
import pytest
from PIL import Image

from mer.bin import plot, report
from tests.helpers.browser import dump_dom, find_or_install_chromium, screenshot
from tests.helpers.page import Page
from tests.helpers.results import scored_recipe, write_audit

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def chromium() -> str:
    found, why = find_or_install_chromium()
    if found is None:
        pytest.skip(why)
    return found


@pytest.mark.slow
def test_report_page_renders_every_row_and_figure_in_chromium(tmp_path, chromium):
    recipe = tmp_path / "egs" / "toy" / "memocmt"
    systems = [("loso", "memocmt_min"), ("loso", "memocmt_max")]
    dirs = scored_recipe(recipe, systems, folds=2, n=12)
    write_audit(recipe, "loso")
    # stage 6 as emo.sh plans it: each system's own figures, then the side-by-side ones
    plan = tmp_path / "plan.tsv"
    plan.write_text("".join(f"test\t{d}/plots\t{d}\n" for d in dirs)
                    + f"test\t{recipe}/exp/loso/plots_test\t" + "\t".join(map(str, dirs)) + "\n")
    assert plot.main(["--plan", str(plan), "--tsne-max", "50"]) == 0
    assert report.main([str(recipe)]) == 0
    page_file = recipe / "report.html"
    own = [p.name for d in dirs for p in (d / "plots").glob("*.png")]
    side = [p.name for p in (recipe / "exp/loso/plots_test").glob("*.png") if p.name not in own]
    assert len(own) == 6 and sorted(side) == ["confusion_side_by_side.png", "tsne_side_by_side.png"]

    shot = tmp_path / "shot.png"
    screenshot(chromium, page_file, shot)
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 1, "the screenshot is blank"

    page = Page(dump_dom(chromium, page_file, tmp_path / "profile"))
    rows = page.tables_headed("config", "protocol", "folds")[0]
    assert sorted(cells[0] for _, cells in rows) == sorted(c for _, c in systems)
    pooled = page.tables_headed("config", "protocol", "utts")[0]
    bars = page.tables_headed("fold", "utts")
    assert len(pooled) == 2 and len(bars) == 2 and all(len(t) == 2 for t in bars)
    for _, cells in [*rows, *pooled, *(r for t in bars for r in t)]:
        assert cells and all(c.strip() for c in cells), cells

    # each figure once (the copies in plots_test/ are not shown twice), decoded by the browser
    assert len(page.images) == len(own) + len(side)
    for img in page.images:
        head, data = img["src"].split(",", 1)
        assert head == "data:image/png;base64"
        png = base64.b64decode(data)
        assert png.startswith(PNG_SIGNATURE) and len(png) > len(PNG_SIGNATURE)
        assert int(img["data-natural-width"]) > 0, img["alt"]
