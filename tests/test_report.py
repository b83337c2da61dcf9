"""`mebench report`: a self-contained HTML page, checked as HTML and rendered in real headless Chromium."""
from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from _browser import Browser, find_chromium
from _cli import run_cli
from _leaderboard_helpers import ridge


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    run_dir = ridge(base / "run", 10)
    res = run_cli("stats", str(run_dir), "--permutations", "99", "--bootstrap", "300", "--json")
    assert res.exit_code == 0, res.output
    out = base / "report.html"
    res = run_cli("report", str(run_dir), "--out", str(out))
    assert res.exit_code == 0, res.output
    return run_dir, out


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.images, self.urls, self.metric_rows, self._in_metrics = set(), [], [], [], False
        self.meta = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "table" and a.get("id") == "metrics":
            self._in_metrics = True
        if tag == "tr" and self._in_metrics:
            self.metric_rows.append([])
        if tag == "img":
            self.images.append(a["src"])
        if tag == "meta":
            self.meta.append(a)
        for k in ("src", "href"):
            if k in a:
                self.urls.append(a[k])

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_metrics = False

    def handle_data(self, data):
        if self._in_metrics and self.metric_rows and data.strip():
            self.metric_rows[-1].append(data.strip())


def test_report_is_self_contained_html(report):
    run_dir, out = report
    p = _Collect()
    p.feed(out.read_text())
    for section in ("warnings", "metrics", "statistics", "figures", "per-subject", "per-fold", "skips", "config",
                    "provenance", "fig-roc", "fig-confusion", "fig-subjects", "fig-null-uf1"):
        assert section in p.ids, section
    rows = [r for r in p.metric_rows if r]
    assert [r[0] for r in rows[1:]] == ["accuracy", "uar", "uf1", "auc"]
    for r in rows[1:]:
        assert re.fullmatch(r"\d\.\d{3}", r[1]) and re.fullmatch(r"\[\d\.\d{3}, \d\.\d{3}\]", r[2])
        assert re.fullmatch(r"0\.\d{4}", r[3]), r  # the permutation p-value from stats.json
    assert len(p.images) >= 7  # ROC, confusion, strip, and a null distribution per metric
    for src in p.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(u.startswith("data:") for u in p.urls), "the report must not reference anything outside itself"
    csp = next(m["content"] for m in p.meta if m.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp
    text = out.read_text()
    assert "predictions.parquet" in text and "fold hash" in text and "in-run" in text


def test_report_in_headless_chromium(report, tmp_path):
    exe = find_chromium()
    if exe is None:
        pytest.skip("no Chromium or Chrome browser is installed (Debian: apt-get install chromium); the report is "
                    "rendered in a real browser where one exists, as in CI")
    run_dir, out = report
    with Browser(exe) as b:
        b.open(out)
        state = b.evaluate("""(() => {
            const rows = [...document.querySelectorAll('#metrics tbody tr')].map(r =>
                [...r.cells].map(c => c.textContent.trim()));
            const imgs = [...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth,
                                                          alt: i.alt}));
            return {title: document.title, rows: rows, imgs: imgs,
                    h1: document.querySelector('h1').textContent,
                    height: document.documentElement.scrollHeight};
        })()""")
        shot = b.screenshot(tmp_path / "report.png")
        requests = list(b.requests)
    assert [r[0] for r in state["rows"]] == ["accuracy", "uar", "uf1", "auc"]
    assert all(re.fullmatch(r"\d\.\d{3}", r[1]) for r in state["rows"])
    assert len(state["imgs"]) >= 7 and all(i["ok"] and i["w"] > 100 for i in state["imgs"]), state["imgs"]
    assert "hoof+ridge" in state["h1"] and state["height"] > 1500
    page = out.resolve().as_uri()
    assert all(u == page or u.startswith("data:") for u in requests), [u[:80] for u in requests]
    import cv2

    img = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape[1] >= 1000 and img.shape[0] >= 1500
    assert img.std() > 20, "the screenshot is blank"


def test_report_names_a_bad_run(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_cli("report", str(empty), "--out", str(tmp_path / "r.html"))
    assert res.exit_code == 1 and "Traceback" not in res.output and str(empty) in res.output
    assert not (tmp_path / "r.html").exists()


def test_report_shows_leakage_first(tmp_path):
    run_dir = ridge(tmp_path / "leaky", 1, protocol="kfold", protocol_opts={"k": 4})
    out = tmp_path / "leaky.html"
    res = run_cli("report", str(run_dir), "--out", str(out))
    assert res.exit_code == 0, res.output
    text = out.read_text()
    warnings = text.index('id="warnings"')
    assert text.index('<div class="flag">LEAKY:') > warnings and warnings < text.index('id="metrics"')
    assert "no stats.json" in text


def test_stats_json_is_read_in_both_layouts():
    from mebench.leaderboard.report import stats_entries

    current = {"metrics": {"uf1": {"value": 0.7, "ci_low": 0.5, "ci_high": 0.8, "ci_method": "BCa", "p_value": 0.02}}}
    newer = {"ci": {"uf1": {"estimate": 0.7, "low": 0.5, "high": 0.8, "method": "BCa", "level": 0.95}},
             "permutation": {"metrics": {"uf1": {"observed": 0.7, "p_value": 0.02}}}, "inputs": {}}
    for stats in (current, newer):
        assert stats_entries(stats) == {"uf1": {"value": 0.7, "ci_low": 0.5, "ci_high": 0.8, "ci_method": "BCa",
                                                "p_value": 0.02}}
    assert stats_entries(None) == {}


def test_report_never_replaces_a_file_silently(report, tmp_path):
    from mebench.store import open_run

    run_dir, _ = report
    res = run_cli("report", str(run_dir), "--bootstrap", "50", cwd=tmp_path)
    assert res.exit_code == 0, res.output
    out = tmp_path / f"report-{open_run(run_dir).run_id}.html"  # named after the run: two runs never collide
    assert out.is_file() and out.name in res.output
    out.write_text("another report")
    for extra in ([], ["--out", str(out)]):
        res = run_cli("report", str(run_dir), "--bootstrap", "50", *extra, cwd=tmp_path)
        assert res.exit_code == 2 and "--force" in res.output and "Traceback" not in res.output, res.output
        assert out.read_text() == "another report"
    res = run_cli("report", str(run_dir), "--bootstrap", "50", "--force", cwd=tmp_path)
    assert res.exit_code == 0 and out.read_text().startswith("<!DOCTYPE html>")


# ---- both HTML pages in a real browser at two window widths ----
LONG_NAMED = "synthetic-deception-resnet-fpf-tmfe+au-libreface-logreg-loso-*"
FITS = """(() => {
  const vw = document.documentElement.clientWidth;
  const scrolls = el => { for (let p = el.parentElement; p; p = p.parentElement) {
      if (['auto', 'scroll'].includes(getComputedStyle(p).overflowX)) return true; } return false; };
  const bad = [...document.body.querySelectorAll('*')].filter(el => {
      const r = el.getBoundingClientRect();
      const spills = r.width > 0 && (r.right > vw + 1 || r.left < -1);
      const clipped = el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1
                      && getComputedStyle(el).overflowX === 'visible';
      return (spills || clipped) && !scrolls(el); })
    .map(el => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}: right edge ${Math.round(
        el.getBoundingClientRect().right)} px, content ${el.scrollWidth} px in ${el.clientWidth} px`);
  const imgs = [...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0,
                                               shown: i.getBoundingClientRect().width}));
  return {viewport: vw, page: document.documentElement.scrollWidth, overflowing: bad.slice(0, 10),
          imgs: imgs, text: document.body.innerText.length};
})()"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """A report and an HTML leaderboard of the committed runs, whose pipeline names are long."""
    base = tmp_path_factory.mktemp("pages")
    committed = Path(__file__).resolve().parents[1] / "leaderboard" / "runs" / "synthetic"
    long_run = sorted(committed.glob(LONG_NAMED))
    if not long_run:
        pytest.skip("the committed leaderboard holds no run of the long-named pipeline")
    res = run_cli("report", long_run[0], "--bootstrap", "100", "--out", base / "report.html")
    assert res.exit_code == 0, res.output
    res = run_cli("leaderboard", committed, "--format", "html", "--bootstrap", "100", "--permutations", "100",
                  "--out", base / "leaderboard.html")
    assert res.exit_code == 0, res.output
    return {"report": base / "report.html", "leaderboard": base / "leaderboard.html"}


@pytest.mark.parametrize("page", ["report", "leaderboard"])
def test_pages_fit_narrow_and_wide_windows_in_chromium(pages, page, tmp_path):
    """At 800 and 1400 px the page is never wider than the window and no element spills out of it (a wide
    table scrolls inside its own box); images load and fit; the screenshot shows something."""
    exe = find_chromium()
    if exe is None:
        pytest.skip("no Chromium or Chrome browser is installed (Debian: apt-get install chromium); the pages are "
                    "rendered in a real browser where one exists, as in CI")
    import cv2

    for width in (800, 1400):
        with Browser(exe, width, 1000) as b:
            b.set_viewport(width, 1000)
            b.open(pages[page])
            state = b.evaluate(FITS)
            shot = b.screenshot(tmp_path / f"{page}-{width}.png")
        assert state["page"] <= state["viewport"] <= width, (width, state)
        assert not state["overflowing"], (width, state["overflowing"])
        assert all(i["ok"] and 0 < i["shown"] <= state["viewport"] for i in state["imgs"]), state["imgs"]
        assert len(state["imgs"]) >= (3 if page == "report" else 0) and state["text"] > 1000
        img = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape[1] in (state["viewport"], width), None if img is None else img.shape
        assert img.std() > 20, "the screenshot is blank"
