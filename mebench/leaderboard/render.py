"""A leaderboard board rendered as Markdown, LaTeX, CSV, HTML or JSON; every output is a string."""
from __future__ import annotations

import csv
import html
import io
import re

from ..errors import UsageError
from ..formatting import fmt_number
from .notes import MARK
from .tables import ROLE_ORDER, record

FORMATS = ("markdown", "latex", "csv", "html", "json")
ROLE_TITLES = {"control": "Controls", "probe": "Bias probes"}


def _cell_of(board: dict) -> dict:
    return {(c["row"], c["column"]): c for c in board["cells"]}


def _cell_parts(cell: dict | None) -> dict:
    """Text pieces of a cell: value, CI, bold, mark, flags."""
    if cell is None:
        return {"value": "–", "ci": "", "bold": False, "mark": False, "flags": []}
    ci = "" if cell["ci_low"] is None else f"[{fmt_number(cell['ci_low'])}, {fmt_number(cell['ci_high'])}]"
    value = fmt_number(cell["value"])
    if cell.get("seed_summary"):  # mean ± sd over seed replicates (seeds.py): no CI, the number of seeds instead
        value += f" ± {fmt_number(cell.get('sd'))}" if cell["value"] is not None else ""
        ci = f"({cell['n_seeds']} seeds)"
    elif cell.get("seed_ensemble"):
        ci += f" ({cell['n_seeds']} seeds)"
    return {"value": value, "ci": ci, "bold": bool(cell["best"]),
            "mark": bool(cell["not_worse"]), "flags": list(cell["flags"])}


def _row_name(row: dict) -> str:
    return row["label"] + {"control": " (control)", "probe": " (probe)"}.get(row["role"], "")


def _sections(board: dict):
    """Rows grouped by role: (title or None, rows)."""
    for role in ROLE_ORDER:
        rows = [r for r in board["rows"] if r["role"] == role]
        if rows:
            yield ROLE_TITLES.get(role), rows


def _caption(board: dict) -> str:
    o = board["options"]
    better = f"{'higher' if board['higher_is_better'] else 'lower'} is better"
    head = (f"{board['title']} ({better})" if board["title"] == f"Pooled {board['metric']}"
            else f"{board['title']}: {board['metric']} ({better})")
    return f"{head} with {o['level']:.0%} subject-cluster bootstrap CIs"


def _code_split(text: str) -> list[tuple[bool, str]]:
    """Split footnote text on backticks: [(is_code, piece), ...]."""
    parts = text.split("`")
    return [(i % 2 == 1, p) for i, p in enumerate(parts) if p]


def to_markdown(board: dict) -> str:
    cell_of = _cell_of(board)
    show_rank = board["ranking"].get("shown")
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    head = ["Pipeline"] + [esc(c["label"]) for c in board["columns"]] + (["Mean rank"] if show_rank else [])
    lines = [f"{_caption(board)}.", "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for title, rows in _sections(board):
        if title:
            lines.append("| *" + title + "* |" + " |" * (len(head) - 1))
        for row in rows:
            out = [esc(_row_name(row))]
            for col in board["columns"]:
                p = _cell_parts(cell_of.get((row["label"], col["label"])))
                v = f"**{p['value']}**" if p["bold"] else p["value"]
                text = " ".join(x for x in (v, p["ci"]) if x)
                if p["mark"]:
                    text += f" {MARK}"
                if p["flags"]:
                    text += " ⚠ " + ", ".join(p["flags"])
                out.append(text)
            if show_rank:
                out.append(fmt_number(row["mean_rank"], 2) if row["mean_rank"] is not None else "–")
            lines.append("| " + " | ".join(out) + " |")
    lines.append("")
    lines.append("Notes:")
    lines.append("")
    for i, note in enumerate(board["footnotes"], 1):
        lines.append(f"{i}. {note}")
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}
_LATEX_UNICODE = {"×": r"$\times$", "α": r"$\alpha$", "†": r"$^{\dagger}$", "≥": r"$\geq$", "≤": r"$\leq$",
                  "–": "--", "—": "---", "·": r"$\cdot$", "…": r"\ldots{}", "Δ": r"$\Delta$", "±": r"$\pm$",
                  "→": r"$\rightarrow$", "⚠": "", "χ": r"$\chi$", "²": r"$^2$", "’": "'", "“": "``", "”": "''"}


def latex_escape(text: str) -> str:
    """Escape LaTeX specials and map the few symbols mebench writes; other non-ASCII is dropped to '?'."""
    return "".join(_LATEX_SPECIAL.get(ch) or _LATEX_UNICODE.get(ch, ch if ord(ch) < 128 else "?") for ch in str(text))


def _latex_rich(text: str) -> str:
    """Footnote text with `code` set in typewriter (``--`` kept as two hyphens)."""
    return "".join(r"\texttt{" + re.sub(r"-(?=-)", "-{}", latex_escape(p)) + "}" if code else latex_escape(p)
                   for code, p in _code_split(text))


def latex_label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "table"


def to_latex(board: dict, label: str | None = None) -> str:
    cell_of = _cell_of(board)
    show_rank = board["ranking"].get("shown")
    ncols = 1 + len(board["columns"]) + (1 if show_rank else 0)
    spec = "l" + "c" * len(board["columns"]) + ("c" if show_rank else "")
    lines = ["% Generated by `mebench leaderboard` from stored predictions; do not edit by hand.",
             "% Needs \\usepackage{booktabs} in the preamble.",
             "\\begin{table}[tbp]",
             "\\centering",
             "\\small",
             "\\caption{" + latex_escape(_caption(board)) + ".}",
             "\\label{tab:" + (label or "mebench-" + latex_label(board["title"] + "-" + board["metric"])) + "}",
             "\\begin{tabular}{" + spec + "}",
             "\\toprule",
             " & ".join(["Pipeline"] + [latex_escape(c["label"]) for c in board["columns"]]
                        + (["Mean rank"] if show_rank else [])) + " \\\\",
             "\\midrule"]
    first = True
    for title, rows in _sections(board):
        if title:
            if not first:
                lines.append("\\midrule")
            lines.append(f"\\multicolumn{{{ncols}}}{{l}}{{\\textit{{{latex_escape(title)}}}}} \\\\")
        first = False
        for row in rows:
            out = [latex_escape(_row_name(row))]
            for col in board["columns"]:
                p = _cell_parts(cell_of.get((row["label"], col["label"])))
                v = latex_escape(p["value"])
                text = f"\\textbf{{{v}}}" if p["bold"] else v
                if p["ci"]:
                    text += f" {{\\scriptsize {latex_escape(p['ci'])}}}"
                if p["mark"]:
                    text += "$^{\\dagger}$"
                if p["flags"]:
                    text += " \\textit{(" + latex_escape(", ".join(p["flags"])) + ")}"
                out.append(text)
            if show_rank:
                out.append(fmt_number(row["mean_rank"], 2) if row["mean_rank"] is not None else "--")
            lines.append(" & ".join(out) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "", "\\smallskip", "\\begin{minipage}{\\linewidth}\\footnotesize"]
    for i, note in enumerate(board["footnotes"], 1):
        lines.append(f"{i}.~{_latex_rich(note)}\\par")
    lines += ["\\end{minipage}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def _html_rich(text: str) -> str:
    return "".join(f"<code>{html.escape(p)}</code>" if code else html.escape(p) for code, p in _code_split(text))


# Long pipeline names break anywhere, a value's CI may go under it, and a table still wider than the
# window scrolls inside its own box: the page itself never gets wider than the window.
HTML_STYLE = ("body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em;color:#222;"
              "overflow-wrap:break-word}"
              ".scroll{overflow-x:auto;max-width:100%}"
              "table{border-collapse:collapse;margin:1em 0}th,td{padding:.3em .7em;text-align:right;"
              "border-bottom:1px solid #ddd}th:first-child,td:first-child{text-align:left}"
              "td.pipeline{min-width:8em;max-width:26em}"
              "thead th{border-bottom:2px solid #222}tr.section td{font-style:italic;background:#f6f6f6}"
              ".ci{color:#666;font-size:.85em;white-space:nowrap}.flag{color:#b00;font-weight:bold}caption{text-align:left;"
              "font-weight:bold;margin-bottom:.5em}ol.notes{font-size:.85em;max-width:70em;overflow-wrap:anywhere}")


def _breakable(text: str) -> str:
    """Escaped ``text`` with line-break opportunities (``<wbr>``) after ``+ , [ /``: a long pipeline name or
    column heading breaks between its parts, not inside a number."""
    return re.sub(r"([+,\[/])", r"\1<wbr>", html.escape(text))


def html_table(board: dict) -> str:
    """The leaderboard as an HTML ``<table>`` plus its notes (a fragment)."""
    cell_of = _cell_of(board)
    show_rank = board["ranking"].get("shown")
    e = html.escape
    head = ["Pipeline"] + [c["label"] for c in board["columns"]] + (["Mean rank"] if show_rank else [])
    out = ['<div class="scroll">', f'<table class="leaderboard" data-metric="{e(board["metric"])}">',
           f"<caption>{e(_caption(board))}</caption>",
           "<thead><tr>" + "".join(f"<th>{_breakable(h)}</th>" for h in head) + "</tr></thead>", "<tbody>"]
    for title, rows in _sections(board):
        if title:
            out.append(f'<tr class="section"><td colspan="{len(head)}">{e(title)}</td></tr>')
        for row in rows:
            tds = [f'<td class="pipeline">{_breakable(_row_name(row))}</td>']
            for col in board["columns"]:
                p = _cell_parts(cell_of.get((row["label"], col["label"])))
                v = f"<strong>{e(p['value'])}</strong>" if p["bold"] else e(p["value"])
                text = v + (f' <span class="ci">{e(p["ci"])}</span>' if p["ci"] else "")
                if p["mark"]:
                    text += f"<sup>{MARK}</sup>"
                if p["flags"]:
                    text += f' <span class="flag">{e(", ".join(p["flags"]))}</span>'
                tds.append(f"<td>{text}</td>")
            if show_rank:
                tds.append(f"<td>{fmt_number(row['mean_rank'], 2) if row['mean_rank'] is not None else '–'}</td>")
            out.append(f'<tr class="{e(row["role"])}">' + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    out.append("</div>")
    out.append('<ol class="notes">' + "".join(f"<li>{_html_rich(n)}</li>" for n in board["footnotes"]) + "</ol>")
    return "\n".join(out)


def to_html(board: dict) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(board['title'])}</title>\n<style>{HTML_STYLE}</style>\n</head>\n<body>\n"
            + html_table(board) + "\n</body>\n</html>\n")


def to_csv(board: dict) -> str:
    cell_of = _cell_of(board)
    show_rank = board["ranking"].get("shown")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = ["pipeline", "role"]
    for col in board["columns"]:
        head += [f"{col['label']} {board['metric']}", f"{col['label']} ci_low", f"{col['label']} ci_high",
                 f"{col['label']} mark", f"{col['label']} flags"]
    if show_rank:
        head.append("mean rank")
    w.writerow(head)
    num = lambda v: "" if v is None else repr(float(v))  # noqa: E731
    for row in board["rows"]:
        out = [row["label"], row["role"]]
        for col in board["columns"]:
            c = cell_of.get((row["label"], col["label"]))
            if c is None:
                out += ["", "", "", "absent", ""]
                continue
            mark = ("best" if c["best"] else "not-worse" if c["not_worse"] else "untested" if c["not_worse"] is None
                    and c["ranked"] else "worse" if c["ranked"] else "unranked")
            out += [num(c["value"]), num(c["ci_low"]), num(c["ci_high"]), mark, ";".join(c["flags"])]
        if show_rank:
            out.append(num(row["mean_rank"]))
        w.writerow(out)
    return buf.getvalue()


def render(board: dict, fmt: str) -> str:
    """One board in a format of :data:`FORMATS`."""
    from ..fsutil import json_text

    renderers = {"markdown": to_markdown, "latex": to_latex, "csv": to_csv, "html": to_html,
                 "json": lambda b: json_text(record([b]))}
    if fmt not in renderers:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    return renderers[fmt](board)
