"""Figures from saved decode outputs: confusion, ROC, t-SNE, side-by-side and fold-pooled."""
from __future__ import annotations

import json
import re
from pathlib import Path

import kaldiio
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mer.bin import plot as plot_cli
from mer.plots.confusion import confusion_figure, row_normalise
from mer.plots.roc import roc_figure
from mer.plots.tsne import perplexity_for, subsample, tsne_2d
from mer.scoring.decode_dir import load_decode_dir

from tests.helpers import REPO

CLASSES = ["ang", "hap", "neu", "sad"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_vectors(d: Path, stem: str, vectors: dict) -> None:
    with kaldiio.WriteHelper(f"ark,scp:{d / (stem + '.ark')},{d / (stem + '.scp')}") as w:
        for utt in sorted(vectors):
            w(utt, np.asarray(vectors[utt], dtype=np.float32))


def decode_dir(d: Path, seed: int, n: int = 40, meta: dict | None = None, embeddings: bool = True) -> Path:
    """Seeded toy outputs: posteriors favour the reference, embeddings cluster by class."""
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True)
    utts = [f"s{seed}_u{i:03d}" for i in range(n)]
    refs = {u: CLASSES[i % len(CLASSES)] for i, u in enumerate(utts)}
    post, emb = {}, {}
    centres = rng.normal(scale=4.0, size=(len(CLASSES), 16))
    for u in utts:
        k = CLASSES.index(refs[u])
        logits = rng.normal(size=len(CLASSES))
        logits[k] += 1.5
        post[u] = np.exp(logits) / np.exp(logits).sum()
        emb[u] = centres[k] + rng.normal(size=16)
    (d / "classes").write_text("\n".join(CLASSES) + "\n")
    (d / "utt2emo").write_text("".join(f"{u} {refs[u]}\n" for u in utts))
    (d / "utt2pred").write_text("".join(f"{u} {CLASSES[int(np.argmax(post[u]))]}\n" for u in utts))
    write_vectors(d, "posteriors", post)
    if embeddings:
        write_vectors(d, "embeddings", emb)
    (d / "meta.json").write_text(json.dumps(meta or {}))
    return d


def exp_decode(root: Path, config: str, fold: int, seed: int, aggregation: str) -> Path:
    meta = {"protocol": "loso", "config": config, "fold": fold, "test_set": "test", "aggregation": aggregation}
    return decode_dir(root / "loso" / config / f"fold{fold}" / "decode_test", seed, meta=meta)


def assert_pngs(out: Path, expected: set[str]) -> None:
    files = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    assert files == expected
    for name in expected:
        data = (out / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 2000


@pytest.mark.slow
def test_several_decode_dirs_give_per_dir_and_side_by_side(tmp_path):
    aggs = ["cls", "mean", "min"]
    dirs = [exp_decode(tmp_path / "exp", f"memocmt_{a}", 1, seed=i, aggregation=a) for i, a in enumerate(aggs)]
    out = tmp_path / "plots"
    figures = plot_cli.make_plots([load_decode_dir(d) for d in dirs], out)
    names = [f"loso_memocmt_{a}_fold1_test" for a in aggs]
    per_dir = {f"{n}_{kind}.png" for n in names for kind in ("confusion", "roc", "tsne")}
    assert_pngs(out, per_dir | {"tsne_side_by_side.png", "confusion_side_by_side.png"})
    # One t-SNE panel per decode dir, titled by config and aggregation; the legend is not an axes.
    tsne_axes = figures["tsne_side_by_side"].axes
    assert len(tsne_axes) == 3
    assert [ax.get_title().split("\n")[0] for ax in tsne_axes] == [f"memocmt_{a} [{a}]" for a in aggs]
    # Confusion side by side: three matrices and one shared colour bar.
    conf_axes = [ax for ax in figures["confusion_side_by_side"].axes if ax.get_label() != "<colorbar>"]
    assert len(conf_axes) == 3


def test_cli_single_dir_png_and_pdf(tmp_path, capsys):
    d = decode_dir(tmp_path / "exp" / "random" / "faithful" / "fold1" / "decode_test", seed=5)
    out = tmp_path / "figs"
    assert plot_cli.main([str(d), "--out", str(out), "--format", "png", "pdf", "--title-from", "path"]) == 0
    stem = "random_faithful_fold1_test"
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(f"{stem}_{k}.{f}" for k in ("confusion", "roc", "tsne") for f in ("png", "pdf"))
    assert all((out / f).stat().st_size > 1000 for f in files)
    assert (out / f"{stem}_roc.pdf").read_bytes()[:4] == b"%PDF"


@pytest.mark.slow
def test_cli_pool_folds_per_config(tmp_path):
    exp = tmp_path / "exp"
    for config, seed in (("memocmt_min", 10), ("memocmt_max", 20)):
        for fold in (1, 2):
            exp_decode(exp, config, fold, seed + fold, config.split("_")[1])
    cfgs = [str(exp / "loso" / c) for c in ("memocmt_min", "memocmt_max")]
    pooled = plot_cli.load_pooled(cfgs[0], "test")
    assert len(pooled.utts) == 80 and pooled.embeddings().shape == (80, 16)
    assert pooled.utts[0].startswith("fold1/") and pooled.utts[-1].startswith("fold2/")
    out = tmp_path / "pooled"
    assert plot_cli.main(["--pool", *cfgs, "--out", str(out), "--tsne-max", "50"]) == 0
    names = ["loso_memocmt_min_pooled_test", "loso_memocmt_max_pooled_test"]
    assert_pngs(out, {f"{n}_{k}.png" for n in names for k in ("confusion", "roc", "tsne")}
                | {"tsne_side_by_side.png", "confusion_side_by_side.png"})


def test_missing_embeddings_skips_tsne_with_warning(tmp_path, capsys):
    d = decode_dir(tmp_path / "exp" / "loso" / "text_only" / "fold3" / "decode_test", seed=1, embeddings=False)
    out = tmp_path / "o"
    assert plot_cli.main([str(d), "--out", str(out)]) == 0
    assert "no embeddings.scp" in capsys.readouterr().err
    assert (out / "skipped.txt").read_text().splitlines()[1].startswith("loso_text_only_fold3_test_tsne\t")
    (out / "skipped.txt").unlink()
    assert_pngs(out, {"loso_text_only_fold3_test_confusion.png", "loso_text_only_fold3_test_roc.png"})


def _overwrite_vectors(d: Path, stem: str, change) -> None:
    """Rewrite <d>/<stem>.scp with `change(utt index, vector)` applied to every vector."""
    utts = sorted(kaldiio.load_scp(str(d / f"{stem}.scp")))
    old = {u: kaldiio.load_scp(str(d / f"{stem}.scp"))[u].copy() for u in utts}
    write_vectors(d, stem, {u: change(i, old[u]) for i, u in enumerate(utts)})


@pytest.mark.slow
def test_collapsed_model_skips_its_tsne_and_the_next_model_is_plotted(tmp_path, capsys):
    # A collapsed model (every utterance one embedding vector) pooled first, a healthy one after.
    exp = tmp_path / "exp"
    for fold in (1, 2):
        exp_decode(exp, "collapsed", fold, seed=fold, aggregation="min")
        exp_decode(exp, "healthy", fold, seed=10 + fold, aggregation="min")
        _overwrite_vectors(exp / "loso/collapsed" / f"fold{fold}" / "decode_test", "embeddings",
                           lambda i, v: np.full_like(v, 0.25))
    out = tmp_path / "plots"
    cfgs = [str(exp / "loso" / c) for c in ("collapsed", "healthy")]
    assert plot_cli.main(["--pool", *cfgs, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    bad, good = "loso_collapsed_pooled_test", "loso_healthy_pooled_test"
    skipped = (out / "skipped.txt").read_text().splitlines()[1:]
    assert len(skipped) == 2 and all(line.startswith(f"{bad}_tsne\t") for line in skipped)
    assert all("collapsed" in line and "same for all 40 utterances" in line for line in skipped)
    assert "fold1" in skipped[0] and "fold2" in skipped[1] and "collapsed" in err
    (out / "skipped.txt").unlink()
    # everything else is drawn: the collapsed model's confusion and ROC, the healthy model's t-SNE,
    # and side by side (the t-SNE one has a single panel, so it is not made)
    assert_pngs(out, {f"{bad}_confusion.png", f"{bad}_roc.png", "confusion_side_by_side.png"}
                | {f"{good}_{k}.png" for k in ("confusion", "roc", "tsne")})


def test_nonfinite_embeddings_and_posteriors_are_named_and_skipped(tmp_path, capsys):
    d = decode_dir(tmp_path / "exp" / "loso" / "nan" / "fold1" / "decode_test", seed=3)
    _overwrite_vectors(d, "embeddings", lambda i, v: np.where(np.arange(len(v)) == 0, np.nan, v) if i == 7 else v)
    _overwrite_vectors(d, "posteriors", lambda i, v: np.full_like(v, np.inf) if i >= 30 else v)
    out = tmp_path / "o"
    assert plot_cli.main([str(d), "--out", str(out)]) == 0
    skipped = dict(line.split("\t") for line in (out / "skipped.txt").read_text().splitlines()[1:])
    stem = "loso_nan_fold1_test"
    assert set(skipped) == {f"{stem}_roc", f"{stem}_tsne"}
    assert "posteriors of 10 of 40 utterance(s) contain NaN or inf (first: s3_u030)" in skipped[f"{stem}_roc"]
    assert "embeddings of 1 of 40 utterance(s) contain NaN or inf (first: s3_u007)" in skipped[f"{stem}_tsne"]
    assert "s3_u030" in capsys.readouterr().err
    (out / "skipped.txt").unlink()
    assert_pngs(out, {f"{stem}_confusion.png"})
    # a later run with nothing to skip removes the stale list
    healthy = decode_dir(tmp_path / "exp" / "loso" / "nan" / "fold2" / "decode_test", seed=4)
    (out / "skipped.txt").write_text("stale\n")
    assert plot_cli.main([str(healthy), "--out", str(out)]) == 0
    assert not (out / "skipped.txt").exists()


def test_plot_cli_reports_bad_decode_dir(tmp_path, capsys):
    d = decode_dir(tmp_path / "exp" / "loso" / "c" / "fold1" / "decode_test", seed=1)
    (d / "utt2emo").write_text((d / "utt2emo").read_text().splitlines()[0] + "\n")
    assert plot_cli.main([str(d), "--out", str(tmp_path / "o")]) == 1
    assert "39 utterance(s)" in capsys.readouterr().err


def test_confusion_figure_annotates_counts_and_row_percentages():
    matrix = [[3, 1, 0], [0, 0, 0], [1, 1, 2]]
    assert row_normalise(matrix).tolist() == [[0.75, 0.25, 0.0], [0.0, 0.0, 0.0], [0.25, 0.25, 0.5]]
    fig = confusion_figure(matrix, ["a", "b", "c"], "t")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts[0] == "3\n75.0%" and texts[1] == "1\n25.0%" and texts[8] == "2\n50.0%"
    assert texts[3] == "0\n0.0%"  # a class with no references: no division by zero
    assert fig.axes[0].get_ylabel() == "reference"


def test_roc_legend_has_auc_per_class():
    rng = np.random.default_rng(0)
    refs = ["a"] * 10 + ["b"] * 6 + ["c"] * 4
    post = rng.dirichlet(np.ones(4), size=20)
    fig = roc_figure(refs, post, ["a", "b", "c", "d"])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    y = np.asarray(refs)
    assert legend[0] == f"a (AUC {roc_auc_score(y == 'a', post[:, 0]):.3f}, n=10)"
    assert "d (AUC n/a" in legend[3]


def test_tsne_helpers():
    assert perplexity_for(2000) == 30.0 and perplexity_for(40) == 13.0 and perplexity_for(4) == 1.0
    a, b = subsample(100, 20, seed=3), subsample(100, 20, seed=3)
    assert len(a) == 20 and len(set(a)) == 20 and (a == b).all() and (np.diff(a) > 0).all()
    assert (subsample(10, 20) == np.arange(10)).all()
    x = np.random.default_rng(0).normal(size=(12, 5))
    xy = tsne_2d(x, seed=0)
    assert xy.shape == (12, 2) and np.allclose(xy, tsne_2d(x, seed=0))
    with pytest.raises(ValueError, match="at least"):
        tsne_2d(x[:3])


def test_pooled_tsne_never_mixes_two_models(tmp_path):
    # Two folds = two models with unrelated embedding spaces (the second far from the first). One
    # map of both would draw two tight blobs, one per fold; each panel must hold one fold only.
    exp = tmp_path / "exp"
    for fold in (1, 2):
        exp_decode(exp, "memocmt_min", fold, 30 + fold, "min")
    emb2 = exp / "loso/memocmt_min/fold2/decode_test"
    vecs = {u: v + 1000.0 for u, v in kaldiio.load_scp(str(emb2 / "embeddings.scp")).items()}
    write_vectors(emb2, "embeddings", vecs)
    pooled = plot_cli.load_pooled(str(exp / "loso/memocmt_min"), "test")
    figures = plot_cli.make_plots([pooled], tmp_path / "out", tsne_max=100)
    axes = figures["loso_memocmt_min_pooled_test_tsne"].axes
    assert len(axes) == 2
    for ax, fold in zip(axes, ("fold1", "fold2")):
        assert f"loso, {fold}, test" in ax.get_title() and "pooled" not in ax.get_title()  # one fold, named
        points = sum(len(c.get_offsets()) for c in ax.collections)
        assert points == 40  # that fold's utterances, nothing of the other
    roc = figures["loso_memocmt_min_pooled_test_roc"].axes[0].get_legend().get_texts()
    assert any("2 folds" in t.get_text() and "±" in t.get_text() for t in roc)


def test_readme_figure_example_is_one_file(tmp_path, monkeypatch):
    """The README's new figure, written as the one file it says, is listed by the registry and drawn by
    mer.bin.plot."""
    import re

    from mer.plots.figures import FIGURES

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Adding a system"):readme.index("## Adding a corpus")]
    code = next(b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "mer/plots/recall_bars.py" in b)
    FIGURES.load()
    monkeypatch.setattr(FIGURES, "_entries", dict(FIGURES._entries))  # the README's figure leaves with the test
    exec(compile(code, "README:recall_bars", "exec"), {"__name__": "mer.plots.recall_bars"})
    assert "recall_bars" in FIGURES and FIGURES.description("recall_bars") == "each class's recall as a bar"
    d = decode_dir(tmp_path / "exp/loso/cfg/fold1/decode_test", seed=0)
    assert plot_cli.main([str(d), "--out", str(tmp_path / "plots")]) == 0
    assert sorted(p.name for p in (tmp_path / "plots").glob("*_recall_bars.png")) == [
        "loso_cfg_fold1_test_recall_bars.png"]


def test_plan_draws_every_figure_set_in_one_call_and_names_the_line_it_cannot_draw(tmp_path, capsys):
    exp = tmp_path / "exp"
    for config, seed in (("memocmt_min", 10), ("memocmt_max", 20)):
        exp_decode(exp, config, 1, seed, config.split("_")[1])
    a, b = exp / "loso/memocmt_min", exp / "loso/memocmt_max"
    # memocmt_max also decoded a second set, without embeddings: its t-SNE is skipped there
    decode_dir(b / "fold1/decode_dev", 30, embeddings=False,
               meta={"protocol": "loso", "config": "memocmt_max", "fold": 1, "test_set": "dev"})
    missing = tmp_path / "exp/loso/never_trained"
    plan = tmp_path / "plan.tsv"
    plan.write_text("# test set, out dir, exp dirs\n\n"
                    f"dev\t{b}/plots\t{b}\n"
                    f"test\t{a}/plots\t{a}\n"
                    f"test\t{b}/plots\t{b}\n"
                    f"test\t{missing}/plots\t{missing}\n"
                    f"test\t{exp}/loso/plots_test\t{a}\t{b}\n")
    assert plot_cli.main(["--plan", str(plan), "--tsne-max", "50"]) == 1
    out, err = capsys.readouterr()
    assert f"{plan}:6: {missing}: no such experiment dir" in err
    assert re.search(r"4 of 5 figure set\(s\) drawn in \d+\.\d s", out)
    kinds = ("confusion", "roc", "tsne")
    assert_pngs(a / "plots", {f"loso_memocmt_min_pooled_test_{k}.png" for k in kinds})
    # the dev set's skip stays listed in memocmt_max's plots/ after its test set, drawn later, skipped none
    skipped = (b / "plots/skipped.txt").read_text().splitlines()
    assert len(skipped) == 2 and skipped[1].startswith("loso_memocmt_max_pooled_dev_tsne\t")
    (b / "plots/skipped.txt").unlink()
    assert_pngs(b / "plots", {f"loso_memocmt_max_pooled_{s}_{k}.png" for s in ("dev", "test") for k in kinds} -
                {"loso_memocmt_max_pooled_dev_tsne.png"})
    names = ["loso_memocmt_min_pooled_test", "loso_memocmt_max_pooled_test"]
    assert_pngs(exp / "loso/plots_test", {f"{n}_{k}.png" for n in names for k in kinds}
                | {"tsne_side_by_side.png", "confusion_side_by_side.png"})


def test_plan_reuses_an_output_drawn_before_and_draws_the_same_side_by_side(tmp_path):
    from mer.plots.figures import make_plots
    from mer.plots.plan import load_pooled

    exp = tmp_path / "exp"
    for config, seed in (("memocmt_min", 10), ("memocmt_max", 20)):
        exp_decode(exp, config, 1, seed, config.split("_")[1])
    outputs = [load_pooled(str(exp / "loso" / c), "test") for c in ("memocmt_min", "memocmt_max")]
    drawn: dict = {}
    own = make_plots(outputs[:1], tmp_path / "own", tsne_max=50, drawn=drawn)
    both = make_plots(outputs, tmp_path / "both", tsne_max=50, drawn=drawn)
    fresh = make_plots(outputs, tmp_path / "fresh", tsne_max=50)
    stem = "loso_memocmt_min_pooled_test_tsne"
    assert both[stem] is own[stem]  # drawn once
    assert set(both) == set(fresh)
    for figs in (both, fresh):
        assert [ax.get_title().split("\n")[0] for ax in figs["tsne_side_by_side"].axes] == [
            "memocmt_min [min]", "memocmt_max [max]"]
    xy = [[c.get_offsets() for c in figs["tsne_side_by_side"].axes[1].collections] for figs in (both, fresh)]
    assert all(np.array_equal(p, q) for p, q in zip(*xy))


def test_plan_line_with_too_few_fields_is_named(tmp_path, capsys):
    plan = tmp_path / "plan.tsv"
    plan.write_text("test\tonly/an/out/dir\n")
    assert plot_cli.main(["--plan", str(plan)]) == 1
    assert f"{plan}:1: expected TEST_SET<tab>OUT_DIR<tab>EXP_CONFIG_DIR..." in capsys.readouterr().err


def test_side_by_side_figures_of_many_systems_are_split_into_readable_pages():
    from mer.plots.common import PANELS_PER_PAGE
    from mer.plots.confusion import confusion_side_by_side

    labels = ["ang", "hap", "neu", "sad"]
    panels = [(f"system {k}", np.eye(4, dtype=int) * (k + 1), labels) for k in range(PANELS_PER_PAGE + 1)]
    figures = confusion_side_by_side({"confusion": panels}, [])
    assert sorted(figures) == ["confusion_side_by_side_p1", "confusion_side_by_side_p2"]
    drawn = [[ax.get_title() for ax in fig.axes if ax.get_label() != "<colorbar>"] for fig in figures.values()]
    assert [len(t) for t in drawn] == [PANELS_PER_PAGE, 1] and drawn[1] == [f"system {PANELS_PER_PAGE}"]
    width, height = figures["confusion_side_by_side_p1"].get_size_inches()
    assert width <= 24 and height <= 18  # a page fits a screen at the figures' dpi
    assert list(confusion_side_by_side({"confusion": panels[:3]}, [])) == ["confusion_side_by_side"]


def test_folds_whose_embeddings_differ_in_width_skip_the_pooled_tsne_and_draw_the_rest(tmp_path):
    # A `select` combiner's folds come from different candidates: 16-d embeddings in fold 1, 8-d in fold 2.
    exp = tmp_path / "exp"
    for fold in (1, 2):
        exp_decode(exp, "select_all", fold, 50 + fold, "min")
    _overwrite_vectors(exp / "loso/select_all/fold2/decode_test", "embeddings", lambda i, v: v[:8])
    pooled = plot_cli.load_pooled(str(exp / "loso/select_all"), "test")
    out = tmp_path / "out"
    figures = plot_cli.make_plots([pooled], out, tsne_max=100)
    assert "loso_select_all_pooled_test_tsne" not in figures
    assert {"loso_select_all_pooled_test_confusion", "loso_select_all_pooled_test_roc"} <= set(figures)
    skipped = (out / "skipped.txt").read_text()
    assert "loso_select_all_pooled_test_tsne" in skipped and "dimensions differ across parts ([8, 16])" in skipped
