"""Figures a journal accepts: read back from the PDFs, every word inside the page and no two overlapping.

Each figure kind (CD diagram, ROC, per-subject strips, confusion matrix, permutation null) is drawn
for 2 to 12 pipelines with long realistic names, at one- and two-column width, and its PDF is read
back with poppler's ``pdftotext -bbox``; so are the committed leaderboard's figures.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from _figure_helpers import NO_POPPLER, PDFTOTEXT, layout_problems, long_names, make_figure, pdf_words, unlabelled_axes

from mebench.errors import UsageError
from mebench.plotting import WIDTHS, figure_bytes, parse_labels, pipeline_labels, style, wrap

REPO = Path(__file__).resolve().parents[1]
needs_poppler = pytest.mark.skipif(PDFTOTEXT is None, reason=NO_POPPLER)


def _draw(kind: str, n: int, width, tmp_path: Path, labels=None) -> tuple[Path, list]:
    with style():
        fig = make_figure(kind, n, width, labels)
        pdf = tmp_path / f"{kind}-{n}-{width}.pdf"
        pdf.write_bytes(figure_bytes(fig, "pdf"))
        return pdf, unlabelled_axes(fig)


def test_pipeline_labels_are_short_distinct_and_keyed():
    names = long_names(12)
    short, key = pipeline_labels(names)
    assert [short[n] for n in names] == [f"P{i}" for i in range(1, 13)]
    assert key == [(f"P{i}", n) for i, n in enumerate(names, 1)]
    # names that differ only in an option get different keys, and the key tells them apart
    twins = ["hoof+logreg[c.C=0.1,f.size=64]", "hoof+logreg[c.C=1.0,f.size=64]"]
    short, key = pipeline_labels(twins)
    assert len(set(short.values())) == 2 and dict(key) == {"P1": twins[0], "P2": twins[1]}
    # a user's label wins; generated keys skip labels already taken
    short, key = pipeline_labels(names[:3], {names[1]: "P1"})
    assert short == {names[0]: "P2", names[1]: "P1", names[2]: "P3"} and [k for k, _ in key] == ["P2", "P3"]
    with pytest.raises(UsageError, match="given to several pipelines"):
        pipeline_labels(twins, {twins[0]: "LR", twins[1]: "LR"})
    with pytest.raises(UsageError, match=r"did you mean 'hoof\+logreg\[c.C=0.1,f.size=64\]'"):
        pipeline_labels(twins, {"hoof+logreg[c.C=0.1,f.size=46]": "LR"})


def test_label_option_values():
    assert parse_labels(["hoof+logreg[c.C=0.1]=LR", "lbptop+svm-linear=LBP"]) == {
        "hoof+logreg[c.C=0.1]": "LR", "lbptop+svm-linear": "LBP"}  # the last '=' separates: names hold '='
    for bad in ("LR", "=LR", "hoof+logreg="):
        with pytest.raises(UsageError, match="PIPELINE=SHORT"):
            parse_labels([bad])


def test_wrap_breaks_between_parts_and_fits():
    with style():
        from mebench.plotting import text_width

        lines = wrap(long_names(1)[0], 150, 6.5)
        assert len(lines) > 1 and "".join(lines) == long_names(1)[0]
        assert all(text_width(line, 6.5) <= 150 for line in lines)
        assert all(line.endswith((",", "+", "[", "]")) for line in lines[:-1]), lines  # never inside a word
        assert wrap("x" * 400, 100, 7)[0] and all(text_width(t, 7) <= 100 for t in wrap("x" * 400, 100, 7))


@needs_poppler
@pytest.mark.parametrize("kind", ["roc", "subjects", "cd", "confusion", "null"])
def test_figure_text_fits_the_page_and_never_overlaps(kind, tmp_path):
    problems = []
    for n, width in ((2, "one"), (12, "one"), (7, "two"), (12, "two")):  # 2 to 12 pipelines, both widths
        pdf, unlabelled = _draw(kind, n, width, tmp_path)
        problems += layout_problems(pdf) + [f"{pdf.name}: {u}" for u in unlabelled]
        page_w, _, words = pdf_words(pdf)
        assert page_w == pytest.approx(72 * WIDTHS[width], abs=0.5), (pdf.name, page_w)
        text = " ".join(w for *_, w in words)
        if kind in ("roc", "subjects", "cd"):  # short labels on the plot, full names in the key
            assert "P1" in text and "f.backbone=efficientnet-lite0," in text.replace(" ", ""), text
    assert not problems, "\n".join(problems)


@needs_poppler
def test_report_figures_fit_with_a_long_pipeline_name(tmp_path):
    """The report's figures: one run's ROC and a strip per metric, titled with the run's full name."""
    from _figure_helpers import arrays, subjects

    from mebench.leaderboard import figures as F

    title = f"{long_names(1)[0]} on synthetic/deception, loso"
    metrics = ["accuracy", "uar", "uf1", "auc"]
    problems = []
    with style():
        figs = {"roc": F.roc_figure([("this run", "method", arrays(0))], title),
                "strip": F.strip_figure([(m, subjects(i)) for i, m in enumerate(metrics)], "metric", title,
                                        {m: 0.5 for m in metrics}, width="one", row_label="metric")}
        for name, fig in figs.items():
            pdf = tmp_path / f"report-{name}.pdf"
            pdf.write_bytes(figure_bytes(fig, "pdf"))
            problems += layout_problems(pdf) + unlabelled_axes(fig)
    assert not problems, "\n".join(problems)


@needs_poppler
def test_user_labels_replace_keys(tmp_path):
    names = long_names(4)
    pdf, _ = _draw("roc", 4, "one", tmp_path, labels={names[0]: "ResNet-AU", names[1]: "HOOF-LR"})
    assert not layout_problems(pdf)
    words = [w for *_, w in pdf_words(pdf)[2]]
    assert "ResNet-AU:" in words and "HOOF-LR:" in words and "P1" in words and "P2" in words
    assert "P3" not in words  # two generated keys for the two pipelines without a user label


@needs_poppler
def test_null_figure_formats_p_and_numbers_as_the_tables(tmp_path):
    pdf, _ = _draw("null", 2, "one", tmp_path)
    text = " ".join(w for *_, w in pdf_words(pdf)[2]).replace("\u00a0", " ")
    assert "p = 0.0010" in text and "0.000999" not in text  # fmt_p, as in the tables
    assert "observed 0.742" in text


@needs_poppler
def test_cd_diagram_of_compare_names_pipelines_by_key(tmp_path):
    from mebench.stats.multiple import cd_diagram

    names = long_names(5)
    ranks = {n: 1.0 + i * 0.8 for i, n in enumerate(names)}
    out = cd_diagram(ranks, [names[:3], names[2:]], tmp_path / "cd.pdf")
    assert out == str(tmp_path / "cd.pdf") and not layout_problems(tmp_path / "cd.pdf")
    text = " ".join(w for *_, w in pdf_words(tmp_path / "cd.pdf")[2])
    assert "P1 (1.00)" in text and "P5 (4.20)" in text and "mean rank (1 = best)" in text
    png = cd_diagram(ranks, [names[:3]], tmp_path / "cd.png")
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Path(png).read_bytes() == Path(cd_diagram(ranks, [names[:3]], tmp_path / "again.png")).read_bytes()


@needs_poppler
def test_committed_figures_fit_the_page_and_never_overlap():
    pdfs = sorted((REPO / "leaderboard" / "figures").glob("*.pdf"))
    if not pdfs:
        pytest.skip("the committed leaderboard has no figures")
    problems = []
    for pdf in pdfs:
        problems += layout_problems(pdf)
        width = pdf_words(pdf)[0]
        assert any(abs(width - 72 * w) < 0.5 for w in WIDTHS.values()), (pdf.name, width)
    assert not problems, "\n".join(problems)
