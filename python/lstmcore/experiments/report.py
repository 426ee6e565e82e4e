"""Tables, the reproduction report and plots from results files of :func:`run_experiment`.

- :func:`summary_rows`: result records -> one row per (run, milestone the paper reports).
- :func:`format_table`: those rows as a markdown table, the paper's numbers beside lstmcore's.
- :func:`write_report`: ``docs/REPRODUCTION.md`` from one or more JSONL results files.
- :func:`plot`: learning curves and sequences-to-success per trial against the paper's mean
  (matplotlib, optional).
"""
from __future__ import annotations

import datetime
import json
import math
import os
import platform
from typing import Any, Dict, Iterable, List, Optional, Sequence

from .._atomic import atomic_write
from .readings import READINGS, reading_of
from .registry import EXPERIMENTS, get_experiment
from .results import load_records
from .runner import summarize

__all__ = ["summary_rows", "verdict", "format_summary", "format_table", "render_report", "write_report", "plot",
           "load_findings", "format_readings", "format_comparison", "is_competitor", "lstm_peers", "method_of"]


def load_findings(path: Any) -> Dict[str, str]:
    """The measured findings per group (docs/FINDINGS.md): the text of every ``## <group>`` section
    up to the next heading, as one paragraph. A missing file has none."""
    out: Dict[str, str] = {}
    path = os.fspath(path)
    if not os.path.exists(path):
        return out
    key: Optional[str] = None
    lines: List[str] = []
    with open(path, encoding="utf-8") as f:
        for line in list(f) + ["## \n"]:
            if line.startswith("#"):
                if key and lines:
                    out[key] = " ".join(" ".join(lines).split())
                key = line.lstrip("#").strip() if line.startswith("## ") else None
                lines = []
            elif key is not None:
                lines.append(line.strip())
    return out

#: A row differs materially from the paper when its success rate is lower or its mean sequences to
#: success is off by more than this factor either way (the issue's definition).
MATERIAL_FACTOR = 1.5


def _run_label(record: Dict[str, Any]) -> str:
    parts = []
    if record.get("quick"):
        parts.append("quick")
    if record.get("seed"):
        parts.append(f"seed {record['seed']}")
    for k, v in (record.get("overrides") or {}).items():
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def summary_rows(records: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One row per (experiment, run key, reported milestone), in the registry's order.

    Records of unknown experiments are ignored. A run key is (experiment, seed, quick,
    overrides): trials of different settings are never mixed in one row.
    """
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for r in records:
        if r.get("experiment") in EXPERIMENTS and "key" in r:
            groups.setdefault(r["key"], []).append(r)
    order = {name: i for i, name in enumerate(EXPERIMENTS)}
    labels: Dict[tuple, set] = {}
    for key, recs in groups.items():
        labels.setdefault((recs[0]["experiment"], _run_label(recs[0])), set()).add(key)
    rows: List[Dict[str, Any]] = []
    for key in sorted(groups, key=lambda k: (order[groups[k][0]["experiment"]], k)):
        trials: Dict[int, Dict[str, Any]] = {}
        for r in groups[key]:
            trials.setdefault(r["trial"], r)
        recs = [trials[i] for i in sorted(trials)]
        label = _run_label(recs[0])
        if len(labels[(recs[0]["experiment"], label)]) > 1:  # the same settings under several definitions
            label = ", ".join(x for x in (label, f"definition {recs[0].get('fingerprint', '?')}") if x)
        for row in summarize(recs[0]["experiment"], recs):
            row["run"] = label
            row["steps"] = int(sum(r.get("steps", 0) for r in recs))
            rows.append(row)
    return rows


def verdict(row: Dict[str, Any]) -> Dict[str, Any]:
    """Whether a summary row matches the paper: ``matches`` (bool), ``ratio`` (our mean sequences /
    the paper's, or None) and ``reasons`` (what differs materially: a lower success rate, a mean
    off by more than MATERIAL_FACTOR, no trial reaching the milestone). A paper row without a
    success rate (most tables give only a mean) counts as 100 %: the paper reports every trial
    as successful there."""
    p = row["paper"]
    reasons: List[str] = []
    ratio = None
    # a competitor row without a published rate ("some fraction") asks for none
    unknown = 0.0 if is_competitor(row["experiment"]) else 100.0
    paper_pct = unknown if p["success_percent"] is None else float(p["success_percent"])
    ours_pct = row["success_percent"] or 0.0
    if row["trials"] and ours_pct + 1e-9 < paper_pct:
        reasons.append(f"success {ours_pct:.0f} % < {paper_pct:.0f} %")
    if row["reached"] and p.get("mean_sequences"):
        ratio = row["mean_sequences"] / p["mean_sequences"]
        if ratio > MATERIAL_FACTOR or ratio < 1 / MATERIAL_FACTOR:
            reasons.append(f"mean {ratio:.2g}x the paper's")
    if row["trials"] and not row["reached"]:
        reasons.append("no trial reached it")
    return dict(matches=not reasons, ratio=ratio, reasons=reasons)


def _final_rows(rows: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [r for r in rows if r["milestone"] == get_experiment(r["experiment"]).final_milestone.name]


def format_summary(rows: Sequence[Dict[str, Any]]) -> str:
    """One line per experiment and run (its final milestone): matches or what differs, and why
    (the experiment's ``findings``, from the registry)."""
    lines = ["| experiment | run | trials | success | mean sequences vs paper | verdict |", "|---|---|---|---|---|---|"]
    for row in _final_rows(rows):
        v = verdict(row)
        ratio = f"{row['mean_sequences']:,.0f} vs {row['paper']['mean_sequences']:,.0f} ({v['ratio']:.2f}x)" \
            if v["ratio"] is not None else "–"
        lines.append(f"| {row['experiment']} | {row.get('run') or 'paper settings'} | {row['trials']} "
                     f"({row['paper']['trials']}) | {row['reached']}/{row['trials']} | {ratio} | "
                     f"{'matches' if v['matches'] else 'differs: ' + '; '.join(v['reasons'])} |")
    return "\n".join(lines) + "\n"


def _num(x: Optional[float]) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:,.0f}"


def _test_text(test: Dict[str, Any], size: Optional[int]) -> str:
    parts = []
    if "wrong" in test:
        n = test.get("n", size)
        parts.append(f"{test['wrong']:.3g} of {n} wrong" if n else f"{test['wrong']:.3g} wrong")
    elif "fraction_wrong" in test:
        parts.append(f"{test['fraction_wrong']:.3g} misclassified")
    if "mse" in test:
        parts.append(f"MSE {test['mse']:.3g}")
    if "mean_abs_error" in test:
        parts.append(f"mean abs {test['mean_abs_error']:.3g}")
    if "step_accuracy" in test:
        parts.append(f"{100 * test['step_accuracy']:.1f} % steps right")
    return ", ".join(parts) if parts else "–"


def _our_test(row: Dict[str, Any]) -> str:
    test = dict(row["test"])
    paper = row["paper"]["test"]
    # show what the paper shows: a fraction where it gives a fraction, a count where it gives a count
    if "fraction_wrong" in paper and "wrong" not in paper:
        test.pop("wrong", None)
        test.pop("n", None)
    return _test_text(test, row["paper"].get("test_size"))


def _minutes(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def format_table(rows: Sequence[Dict[str, Any]]) -> str:
    """Markdown table of :func:`summary_rows`: lstmcore beside the paper for every row."""
    head = ("| experiment | stop | run | trials (paper) | success: lstmcore | paper | sequences: lstmcore mean (range) "
            "| paper mean (range) | test: lstmcore | paper | trial time |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        p = row["paper"]
        ours_pct = (f"{row['reached']}/{row['trials']} ({row['success_percent']:.0f} %)"
                    if row["trials"] else "–")
        paper_pct = f"{p['success_percent']:.0f} %" if p["success_percent"] is not None else "–"
        ours_seq = (f"{_num(row['mean_sequences'])} ({_num(row['min_sequences'])}–{_num(row['max_sequences'])})"
                    if row["reached"] else "–")
        rng = p.get("range_sequences")
        paper_seq = _num(p["mean_sequences"]) + (f" ({_num(rng[0])}–{_num(rng[1])})" if rng else "")
        lines.append(
            f"| {row['experiment']} | {row['milestone']} | {row.get('run') or 'paper settings'} | {row['trials']} "
            f"({p['trials']}) | {ours_pct} | {paper_pct} | {ours_seq} | {paper_seq} | {_our_test(row)} "
            f"| {_test_text(p['test'], p.get('test_size'))} | {_minutes(row['seconds'])} |")
    return "\n".join(lines) + "\n"


def is_competitor(name: str) -> bool:
    """Whether a registry row is one of the paper's competitors (not an LSTM net)."""
    return hasattr(get_experiment(name).net, "method")


def method_of(name: str) -> str:
    """The row label of the paper's tables: "LSTM", "RTRL", "BPTT", "ELM", "RCC", "CH", "guessing"."""
    return str(getattr(get_experiment(name).net, "method", "LSTM"))


def lstm_peers(name: str) -> List[str]:
    """The LSTM rows a competitor row is compared with: every LSTM row of Table 1 (Exp. 1), the 2a
    row (Table 2), or the LSTM row of the same task and sizes (random guessing on 3a/3b)."""
    exp = get_experiment(name)
    if exp.name.endswith("-guess"):
        return [exp.name[:-len("-guess")]]
    task_group = exp.group.split("-")[0]          # "2a-competitors" -> "2a"
    return [n for n, e in EXPERIMENTS.items() if e.group == task_group and not is_competitor(n)]


def _pooled(rows: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Trials, successes and the mean sequences to success over several summary rows together."""
    trials = sum(r["trials"] for r in rows)
    reached = sum(r["reached"] for r in rows)
    total = sum(r["mean_sequences"] * r["reached"] for r in rows if r["reached"])
    budgets = sorted({b for r in rows for b in r["budget"]})
    return dict(trials=trials, reached=reached, percent=100.0 * reached / trials if trials else None,
                mean=total / reached if reached else None, budgets=budgets)


def _pct(x: Optional[float]) -> str:
    return "–" if x is None else f"{x:.0f} %"


def _yes_no(lstm: Optional[float], other: Optional[float], *, higher: bool) -> Optional[bool]:
    if lstm is None and other is None:
        return None
    if lstm is None:
        return False
    if other is None:
        return True
    return lstm > other if higher else lstm < other


def format_comparison(rows: Sequence[Dict[str, Any]], findings: Optional[Dict[str, str]] = None) -> List[str]:
    """The section of the report that checks the paper's claim: every competitor row's trials beside
    the LSTM rows it is compared with (:func:`lstm_peers`), paper beside lstmcore, and per row whether
    LSTM had more successful runs and needed fewer sequences, here and in the paper. ``findings``
    ("compare <row>" or "compare <group>" sections of FINDINGS.md) say why."""
    findings = findings or {}
    finals = [r for r in _final_rows(rows) if is_competitor(r["experiment"])]
    if not finals:
        return []
    by_name: Dict[str, List[Dict[str, Any]]] = {}
    for r in _final_rows(rows):
        if not r.get("run") or r["run"].startswith("max_sequences="):
            by_name.setdefault(r["experiment"], []).append(r)
    out = ["## The comparison: LSTM against its competitors", "",
           "The abstract: \"In comparisons with RTRL, BPTT, Recurrent Cascade-Correlation, Elman nets, and Neural "
           "Sequence Chunking, LSTM leads to many more successful runs, and learns much faster.\" Each competitor "
           "row below ran through the same engine, stopping rules and test sets as the LSTM rows; its LSTM side "
           "pools the trials of the LSTM rows it is compared with (all LSTM rows of Table 1; the 2a row for Table "
           "2; the same 3a/3b row for random guessing, whose *sequences* are guesses). A competitor trial that "
           "did not succeed within its cap (*cap*: the run's budget in sequences) counts as unsuccessful; a "
           "competitor without any success within its cap is slower than an LSTM that succeeded below that cap.",
           "",
           "| competitor row | method | weights | lr | cap | trials | success: lstmcore | paper | mean sequences: "
           "lstmcore | paper | LSTM side | LSTM success: lstmcore | paper | LSTM mean: lstmcore | paper | "
           "LSTM more successful? lstmcore / paper | LSTM faster? lstmcore / paper |",
           "|" + "---|" * 17]
    answers: Dict[str, List[str]] = {}
    for row in finals:
        name = row["experiment"]
        exp = get_experiment(name)
        peers = lstm_peers(name)
        lstm = _pooled([r for n in peers for r in by_name.get(n, [])])
        p = row["paper"]
        peer_papers = [get_experiment(n).paper[-1] for n in peers]
        paper_pcts = [100.0 if q.success_percent is None else q.success_percent for q in peer_papers]
        paper_lstm_pct = sum(paper_pcts) / len(paper_pcts) if paper_pcts else None
        means = [q.mean_sequences for q in peer_papers if q.mean_sequences]
        paper_lstm_mean = sum(means) / len(means) if means else None
        cap = max(row["budget"]) if row["budget"] else exp.max_sequences
        ours_more = _yes_no(lstm["percent"], row["success_percent"], higher=True) if lstm["trials"] else None
        # a competitor that never succeeded is slower than an LSTM whose successes came before its cap
        ours_mean = row["mean_sequences"] if row["reached"] else (None if lstm["mean"] is None or
                                                                  lstm["mean"] < cap else float(cap))
        ours_faster = _yes_no(lstm["mean"], ours_mean, higher=False) if lstm["reached"] else \
            (False if row["reached"] else None)
        paper_pct = p["success_percent"]
        paper_more = None if paper_pct is None or paper_lstm_pct is None else paper_lstm_pct > paper_pct
        if paper_pct is None and "fraction" in (p.get("label") or ""):
            paper_more = True     # RTRL in Table 1: "some fraction" of its trials, against LSTM's 97-100 %
        paper_mean = p["mean_sequences"]
        paper_faster: Optional[bool]
        if exp.name.endswith("-guess"):
            paper_more, paper_faster = None, False          # the text: guessing is faster than LSTM
        else:
            paper_faster = True if paper_pct == 0.0 else (None if paper_mean is None or paper_lstm_mean is None
                                                          else paper_lstm_mean < paper_mean)

        def yn(v: Optional[bool]) -> str:
            return "–" if v is None else ("yes" if v else "no")

        label = f" ({p['label']})" if p.get("label") else ""
        out.append(
            f"| {name} | {method_of(name)} | {exp.weights} | {exp.lr:g} | {cap:,} | {row['trials']} "
            f"({p['trials']}) | {row['reached']}/{row['trials']} | {_pct(paper_pct)} | "
            f"{_num(row['mean_sequences']) if row['reached'] else '> ' + format(cap, ',')} | "
            f"{_num(paper_mean)}{label} | {', '.join(peers)} | "
            f"{lstm['reached']}/{lstm['trials']} | {_pct(paper_lstm_pct)} | {_num(lstm['mean'])} | "
            f"{_num(paper_lstm_mean)} | {yn(ours_more)} / {yn(paper_more)} | {yn(ours_faster)} / {yn(paper_faster)} |")
        same = (ours_more == paper_more or paper_more is None) and (ours_faster == paper_faster or paper_faster is None)
        answers.setdefault(exp.group, []).append(
            f"- **{name}** ({method_of(name)}): LSTM more successful runs here: {yn(ours_more)}; faster here: "
            f"{yn(ours_faster)}; {'as in the paper' if same else 'not as in the paper'}.")
    out += ["", "Row by row, and why (per group of rows):", ""]
    for group, lines in answers.items():
        why = findings.get(f"compare {group}")
        out += lines + ([f"- *Why ({group})*: {why}"] if why else []) + [""]
    return out


def render_report(records: Sequence[Dict[str, Any]], *, command: str, sources: Sequence[str] = (),
                  findings: Optional[Dict[str, str]] = None) -> str:
    """The text of docs/REPRODUCTION.md for these records; ``findings`` (group -> text, see
    :func:`load_findings`) explain the rows that differ from the paper. The notes on this
    repository's own runs (the script that made them) are included only with findings, i.e. for the
    report beside docs/FINDINGS.md; a report of a user's own results carries none of them."""
    findings = findings or {}
    rows = summary_rows(records)
    by_table: Dict[int, List[Dict[str, Any]]] = {}
    for row in rows:
        by_table.setdefault(row["table"], []).append(row)
    total = sum(r.get("seconds", 0.0) for r in records if r.get("experiment") in EXPERIMENTS)
    n_trials = sum(1 for r in records if r.get("experiment") in EXPERIMENTS)
    out = [
        "# Reproduction of Hochreiter & Schmidhuber (1997), Tables 1–9, with the competitors of Tables 1 and 2",
        "",
        "Generated by `lstmcore.experiments.report.write_report` from the results file(s) "
        + ", ".join(f"`{s}`" for s in sources) + "; do not edit by hand.",
        "",
        f"Regenerate: `{command}`",
        "",
        f"{n_trials} trials, {_minutes(total)} of trial time in all. Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; written "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "",
        "Columns: *success* = trials that reached the stopping criterion within the budget; *sequences* = training "
        "sequences until then (mean over those trials, with the range); *test* = the final test (means over "
        "trials); *trial time* = the wall time of the trials, added up (on one core each). The paper's trial counts are in brackets.",
        "",
    ]
    if findings:
        out += [
            "Where a row ran fewer trials than the paper (in brackets) or a smaller budget (`max_sequences=` in the "
            "*run* column, a trial that used it up counts as unsuccessful), the reduction was for compute: the "
            "scripts that made these runs, `tools/reproduce-2core.sh` (LSTM rows) and "
            "`tools/reproduce-competitors.sh` (competitor rows), state each reduction and why.",
            "",
        ]
    finals = _final_rows(rows)
    n_match = sum(1 for r in finals if verdict(r)["matches"])
    out += ["## Summary", "",
            f"{n_match} of {len(finals)} rows (experiment and settings, at their last milestone) match the paper: "
            f"success rate not lower and mean sequences within {MATERIAL_FACTOR}x. Every row that differs is "
            "explained under *Why rows differ* below.", "", format_summary(rows)]
    out += format_comparison(rows, findings)
    differing = sorted({r["experiment"] for r in finals if not verdict(r)["matches"]}, key=list(EXPERIMENTS).index)
    explained: List[str] = []
    why: List[str] = []
    for name in differing:
        exp = get_experiment(name)
        key = exp.group if exp.group in findings else name
        if key in explained:
            continue
        explained.append(key)
        quick = all("quick" in (r.get("run") or "").split(", ") for r in finals if r["experiment"] == name)
        missing = ("a quick run (`--quick`: tiny budgets), not comparable with the paper." if quick
                   else "not investigated yet (see FINDINGS.md)." if findings
                   else "differs from the paper; no explanation is recorded with these results.")
        why.append(f"- **{key}**: " + findings.get(key, missing))
    if why:
        out += ["## Why rows differ", ""] + why + [""]
    for table in sorted(by_table):
        names = sorted({r["experiment"] for r in by_table[table]}, key=list(EXPERIMENTS).index)
        out += [f"## Table {table}", "", format_table(by_table[table])]
        speed = []
        for row in by_table[table]:
            if row["steps"] and row["milestone"] == get_experiment(row["experiment"]).final_milestone.name:
                speed.append(f"{row['experiment']}{' (' + row['run'] + ')' if row.get('run') else ''} "
                             f"{1e6 * row['seconds'] / row['steps']:.2f} µs")
        if speed:
            out += ["Trial time per training step (exemplar generation, checks and tests included): "
                    + "; ".join(speed) + ".", ""]
        notes: List[str] = []
        for name in names:
            exp = get_experiment(name)
            out.append(f"- **{name}**: {exp.describe()}.")
            notes += [n for n in exp.notes if n not in notes]
        out += ["", "Choices where the paper is silent or ambiguous:", ""]
        out += [f"- {n}" for n in notes]
        out.append("")
    missing = [name for name in EXPERIMENTS if name not in {r["experiment"] for r in rows}]
    if missing:
        out += ["## Not run yet", "", ", ".join(missing), ""]
    return "\n".join(out)


def write_report(results: Any, path: Any = "docs/REPRODUCTION.md", *, command: Optional[str] = None) -> str:
    """Write the reproduction report from one results file or a list of them; returns its text.
    The findings that explain differing rows are read from FINDINGS.md beside the report."""
    sources = [os.fspath(results)] if isinstance(results, (str, os.PathLike)) else [os.fspath(p) for p in results]
    records: List[Dict[str, Any]] = []
    for s in sources:
        records += load_records(s)
    if command is None:
        command = ("python -c \"from lstmcore.experiments.report import write_report; write_report("
                   + json.dumps(sources) + ", " + json.dumps(os.fspath(path)) + ")\"")
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    findings = load_findings(os.path.join(directory, "FINDINGS.md"))
    text = render_report(records, command=command, sources=sources, findings=findings)
    os.makedirs(directory, exist_ok=True)
    with atomic_write(path, "w") as f:
        f.write(text)
    return text


def plot(records: Sequence[Dict[str, Any]], path: Any) -> None:
    """Learning curves (left) and sequences-to-success per trial against the paper's mean (right),
    one row per run of an experiment. Needs matplotlib (in a checkout: ``pip install ".[plot]"``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("--plot needs matplotlib, which is not installed: pip install matplotlib "
                           "(in a checkout of lstmcore: pip install \".[plot]\")") from None
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for r in records:
        if r.get("experiment") in EXPERIMENTS and "key" in r:
            groups.setdefault(r["key"], []).append(r)
    if not groups:
        raise ValueError("plot: no trials of the paper's experiments to plot")
    order = list(EXPERIMENTS)
    keys = sorted(groups, key=lambda k: (order.index(groups[k][0]["experiment"]), k))
    fig, axes = plt.subplots(len(keys), 2, figsize=(11, 3.0 * len(keys)), squeeze=False)
    for (ax_curve, ax_trials), key in zip(axes, keys):
        recs = sorted(groups[key], key=lambda r: r["trial"])
        exp = get_experiment(recs[0]["experiment"])
        title = exp.name + (f" ({_run_label(recs[0])})" if _run_label(recs[0]) else "")
        for r in recs:
            pts = [p for p in r.get("curve", []) if p[1] > 0]
            if pts:
                ax_curve.plot([p[0] for p in pts], [p[1] for p in pts], lw=0.8,
                              color="C0" if r["success"] else "C3", alpha=0.7)
        ax_curve.set_yscale("log")
        ax_curve.set_xlabel("training sequences")
        ax_curve.set_ylabel("mean loss per sequence")
        ax_curve.set_title(f"{title}: learning curves (red: not successful)", fontsize=9)
        final = exp.final_milestone.name
        xs = [r["trial"] for r in recs]
        ys = [r["milestones"].get(final) if r["success"] else r["sequences"] for r in recs]
        ax_trials.scatter(xs, ys, c=["C0" if r["success"] else "C3" for r in recs], s=14)
        paper = {p.milestone: p for p in exp.paper}.get(final)
        if paper is not None and paper.mean_sequences:
            ax_trials.axhline(paper.mean_sequences, color="k", ls="--", lw=1, label=f"paper mean {paper.mean_sequences:,.0f}")
            ax_trials.legend(fontsize=8)
        ax_trials.set_ylim(bottom=0)
        ax_trials.xaxis.get_major_locator().set_params(integer=True)
        ax_trials.set_xlabel("trial")
        ax_trials.set_ylabel(f"sequences to {final}")
        ax_trials.set_title(f"{title}: per trial (red: budget used up)", fontsize=9)
    fig.tight_layout()
    # replaced whole (an interrupted run never leaves a truncated image); the format from the suffix
    suffix = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png"
    with atomic_write(path, "wb") as f:
        fig.savefig(f, dpi=100, format=suffix)
    plt.close(fig)


# ----------------------------------------------------------------------------------------- Exp. 1 readings
def format_readings(records: Sequence[Dict[str, Any]], *, command: str) -> str:
    """Markdown table of the Exp. 1 readings sweep (``lstmcore reber --readings``): one line per
    (net, learning rate, reading, budget) found in the records of Table 1's rows."""
    groups: Dict[tuple, Dict[int, Dict[str, Any]]] = {}  # (net, lr, reading, budget) -> trial -> record
    for r in records:
        exp = EXPERIMENTS.get(r.get("experiment", ""))
        if exp is None or exp.table != 1:
            continue
        over = r.get("overrides") or {}
        blocks = int(over.get("blocks", exp.net.blocks))
        cells = int(over.get("cells_per_block", exp.net.cells_per_block))
        lr = float(over.get("lr", exp.lr))
        name = reading_of({k: v for k, v in over.items() if k not in ("blocks", "cells_per_block",
                                                                       "output_gate_bias")}, blocks)
        if name is None:
            continue
        groups.setdefault((blocks, cells, lr, name, r.get("max_sequences")), {})
        groups[(blocks, cells, lr, name, r.get("max_sequences"))].setdefault(r["trial"], r)
    order = {name: i for i, name in enumerate(READINGS)}
    lines = [
        "| net | lr | reading | success | mean strings to success (range) | paper | long lag learned | step accuracy "
        "| train string length | CPU time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(groups, key=lambda k: (-k[0], k[2], order.get(k[3], 99), k[4] or 0)):
        blocks, cells, lr, name, budget = key
        recs = list(groups[key].values())
        wins = [r["sequences"] for r in recs if r["success"]]
        paper_name = f"1-{blocks}x{cells}-lr{lr:g}"
        paper = EXPERIMENTS[paper_name].paper[0] if paper_name in EXPERIMENTS else None
        paper_text = f"{paper.success_percent:.0f} %, {paper.mean_sequences:,.0f}" if paper else "–"
        mean = f"{sum(wins) / len(wins):,.0f} ({min(wins):,}–{max(wins):,})" if wins else "–"
        details = [r.get("details", {}) for r in recs]
        long_lag = sum(bool(d.get("long_lag_correct")) for d in details)
        step_acc = sum(d.get("final", {}).get("step_accuracy", 0.0) for d in details) / len(recs)
        train_len = sum(d.get("mean_train_len", 0.0) for d in details) / len(recs)
        seconds = sum(r.get("seconds", 0.0) for r in recs)
        rate = f"{len(wins)}/{len(recs)} ({100 * len(wins) / len(recs):.0f} %)"
        lines.append(f"| {blocks}×{cells} | {lr:g} | {name} | {rate} "
                     f"| {mean} | {paper_text} | {long_lag}/{len(recs)} | {step_acc:.3f} | {train_len:.1f} "
                     f"| {seconds / 60:.1f} min |")
    budgets = sorted({k[4] for k in groups if k[4] is not None})
    lines += ["", "Budget: " + ", ".join(f"{b:,}" for b in budgets) + " training strings per trial; "
              "trial i uses training/test set pair i // 10 and initialisation i % 10.", "", "Readings:", ""]
    lines += [f"- **{name}**: {desc}" for name, (desc, _) in READINGS.items() if any(k[3] == name for k in groups)]
    lines += ["", f"Regenerate: `{command}`", "",
              f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}."]
    return "\n".join(lines) + "\n"
