"""The ``lstmcore`` command (also ``python -m lstmcore``).

    lstmcore reber                       learn the embedded Reber grammar (Exp. 1) once, with progress
    lstmcore reber --trials 30           the paper's protocol (3 set pairs x 10 seeds), table beside Table 1
    lstmcore reber --readings all --results F --report docs/experiment1-readings.md   the readings sweep
    lstmcore tasks show reber            print a sample sequence
    lstmcore reproduce --list            the paper's experiments (every LSTM row of Tables 1-9)
    lstmcore reproduce 6a                run one of them with the paper's trial count, table beside the paper
    lstmcore reproduce table7 --quick    a whole table (or a group like 3a, or all) in its tiny --quick form
    lstmcore reproduce all --estimate    core-hours of a full-protocol run per row
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from typing import Any, List, Optional

import numpy as np

from ._cpus import available_cpus
from ._progress import Progress
from ._terminal import terminal_tables

# A (data_seed, init_seed) pair whose paper-reading trial learns the task in about 20k strings on
# this project's reference machine; any other pair works the same way, some need more strings and
# some never get there (see docs/EXPERIMENT1.md for the success rate over 30 trials).
DEMO_DATA_SEED, DEMO_INIT_SEED = 1, 0


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, unless the help already says it or there is none
    (None, or False for a flag)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or action.default is False or "default" in text:
            return text
        return super()._get_help_string(action) or text


class _Parser(argparse.ArgumentParser):
    """argparse's parser with _HelpFormatter; its subcommands' parsers are of this class too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def _for_stdout(markdown: str) -> str:
    """Markdown tables as aligned columns that fit the terminal when stdout is one; unchanged
    markdown when it is a pipe or a file (for other programs to read)."""
    isatty = getattr(sys.stdout, "isatty", None)
    return terminal_tables(markdown) if isatty is not None and isatty() else markdown


def _reading_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("readings of the paper (defaults: the paper's text)")
    g.add_argument("--repeats", action="store_true", help="allow repeated strings within a set (default: distinct)")
    g.add_argument("--targets", choices=["next", "legal"], default="next", help="target coding")
    g.add_argument("--update", choices=["step", "sequence"], default="step", help="update schedule")
    g.add_argument("--test", choices=["strict", "argmax"], default="strict", help="success test")
    g.add_argument("--squash", choices=["text", "legend"], default="text", help="squashing ranges")
    g.add_argument("--gradient", choices=["truncated", "full"], default="truncated",
                   help="the gradient: the 1997 truncated one (RTRL-style, online) or full BPTT")
    g.add_argument("--input-gate-bias", type=float, nargs="+", default=None, metavar="B",
                   help="initial input-gate biases, one per block (default: random, as in the paper)")
    g.add_argument("--readings", nargs="+", metavar="NAME", default=None,
                   help="run these named readings with the paper's protocol (--trials, default 30) and "
                        "tabulate them: 'all' or names of lstmcore.experiments.READINGS")


def _reber_row(a: argparse.Namespace) -> tuple:
    """The registry row of Exp. 1 for --blocks/--cells/--lr, and the overrides that make it."""
    from .experiments.registry import EXPERIMENTS

    from ._validation import check_memory

    if a.blocks < 1 or a.cells < 1:
        raise ValueError(f"--blocks, --cells: expected positive numbers, got {a.blocks} and {a.cells}")
    # the net's size, bounded before anything of that size (the per-block gate biases) is built:
    # blocks x (cells + 2) units, each with a weight from every unit and input (as LSTM1997 counts)
    units = a.blocks * (a.cells + 2)
    check_memory("--blocks, --cells", units * (units + 8) * 41.0, f"a network of {a.blocks} x {a.cells} cells")
    if not a.lr > 0:
        raise ValueError(f"--lr: expected a positive number, got {a.lr}")
    name = f"1-{a.blocks}x{a.cells}-lr{a.lr:g}"
    over: dict = {} if a.max_sequences is None else {"max_sequences": a.max_sequences}
    if name not in EXPERIMENTS:
        same_net = f"1-{a.blocks}x{a.cells}-lr0.5"
        if same_net in EXPERIMENTS:
            name = same_net
        else:
            name = "1-3x2-lr0.5"
            over.update(blocks=a.blocks, cells_per_block=a.cells,
                        output_gate_bias=[-float(j + 1) for j in range(a.blocks)])
        over["lr"] = a.lr
    return name, over


def _reading_overrides(a: argparse.Namespace) -> dict:
    """The reading flags as registry overrides (only those that differ from the paper's text)."""
    over: dict = {}
    if a.repeats:
        over["distinct"] = False
    if a.targets != "next":
        over["targets"] = a.targets
    if a.update != "step":
        over["update"] = a.update
    if a.test != "strict":
        over["criterion"] = a.test
    if a.squash == "legend":
        over.update(g="h1", h="g2")
    if a.gradient != "truncated":
        if a.update != "sequence":
            raise ValueError(f"--gradient: 'full' needs --update sequence, got --update {a.update}")
        over["gradient"] = a.gradient
    if a.input_gate_bias is not None:
        over["input_gate_bias"] = list(a.input_gate_bias)
    return over


def _cmd_reber(a: argparse.Namespace) -> int:
    from .experiments.registry import get_experiment
    from .experiments.runner import resolve, run_experiment, run_trial, summarize

    from .experiments.checks import check_trials
    from .experiments.results import check_file_path

    if a.trials is not None:
        check_trials("--trials", a.trials)
    if a.results is not None:
        check_file_path("--results", a.results)
    if a.report is not None:
        check_file_path("--report", a.report)
    name, over = _reber_row(a)
    over.update(_reading_overrides(a))
    exp = get_experiment(name)
    budget = resolve(name, overrides=over).max_sequences  # the budget `lstmcore reproduce` runs
    paper = exp.paper[0] if f"1-{a.blocks}x{a.cells}-lr{a.lr:g}" == name else None
    paper_text = (f"paper (Table 1): {paper.success_percent:.0f} % success, mean {paper.mean_sequences:,.0f} strings"
                  if paper else "paper: no Table 1 row for this net and learning rate")
    if a.readings is not None:
        return _reber_readings(a, name, over)
    if a.trials is None:
        print(f"Experiment 1, embedded Reber grammar: LSTM {a.blocks} blocks x {a.cells} cells, lr {a.lr}, "
              f"one trial (data seed {a.data_seed}, init seed {a.init_seed}), budget {budget:,} strings")
        bar = Progress(budget, "training")

        def progress(info):
            bar.update(info["sequences"], f"strings, mean loss {info['mean_loss']:.3f}")

        r = run_trial(name, overrides=dict(over, data_seed=a.data_seed, init_seed=a.init_seed), progress=progress,
                      num_threads=a.jobs)
        bar.close(r["sequences"], "strings, " + ("learned" if r["success"] else "stopped"))
        d = r["details"]
        verdict = (f"learned after {r['sequences']:,} training strings" if r["success"]
                   else f"not learned within {r['sequences']:,} strings")
        print(f"{verdict} ({r['seconds']:.1f} s, {r['n_weights']} weights): "
              f"{100 * d['final']['step_accuracy']:.2f} % of steps and "
              f"{100 * d['final']['string_accuracy']:.1f} % of strings predicted right in the 256 training and 256 "
              f"test strings; symbol before last right in {100 * d['final']['long_lag_accuracy']:.1f} % of strings.")
        print(paper_text + (f", the mean over its {exp.trials} trials; this was 1 trial (`lstmcore reber --trials "
                            f"{exp.trials}` runs the paper's protocol)" if paper else ""))
        if a.json:
            print(json.dumps(r))
        return 0 if r["success"] else 1

    n_sets = math.ceil(a.trials / 10)
    print(f"Experiment 1: {a.trials} trials ({n_sets} set pair(s) x up to 10 seeds: trial i uses set i // 10 and "
          f"seed i % 10), {a.blocks}x{a.cells} net, lr {a.lr}, budget {budget:,} strings, {a.jobs} jobs")
    bar = Progress(a.trials, "trials")
    finished: List[dict] = []

    def on_result(r):
        finished.append(r)
        bar.update(len(finished), f"done, {sum(x['success'] for x in finished)} learned", force=True)

    results = run_experiment(name, a.trials, a.results, jobs=a.jobs, on_result=on_result, overrides=over)
    bar.close()
    row = summarize(name, results)[0]
    mean = (f"{row['mean_sequences']:,.0f} ({row['min_sequences']:,}-{row['max_sequences']:,})"
            if row["reached"] else "-")
    print("\n| | success | mean strings to success (range) |\n|---|---|---|")
    print(f"| lstmcore | {row['reached']}/{row['trials']} ({row['success_percent']:.0f} %) | {mean} |")
    if paper:
        print(f"| paper | {paper.success_percent:.0f} % of {exp.trials} | {paper.mean_sequences:,.0f} |")
    if a.json:
        print(json.dumps(dict(summary=row, trials=results)))
    return 0


def _reber_readings(a: argparse.Namespace, name: str, base: dict) -> int:
    """The readings sweep: every named reading with the paper's protocol, one table."""
    from .experiments.readings import READINGS, reading_overrides
    from .experiments.report import format_readings
    from .experiments.results import load_records
    from .experiments.runner import run_experiments

    names = list(READINGS) if a.readings == ["all"] else a.readings
    for r in names:
        if r not in READINGS:
            raise ValueError(f"--readings: expected 'all' or names among {', '.join(READINGS)}, got {r!r}")
    if a.results is None:
        raise ValueError("--readings: needs --results FILE (the trials of the sweep are kept there)")
    trials = 30 if a.trials is None else a.trials
    for r in names:
        over = dict(base, **reading_overrides(r, a.blocks))
        print(f"reading {r}: {trials} trials", file=sys.stderr)
        bar = Progress(trials, r)
        done: List[dict] = []

        def on_result(rec, bar=bar, done=done):
            done.append(rec)
            bar.update(len(done), f"done, {sum(x['success'] for x in done)} learned", force=True)

        run_experiments([(name, trials)], a.results, jobs=a.jobs, on_result=on_result, overrides=over)
        bar.close()
    text = format_readings(load_records(a.results), command="lstmcore " + " ".join(a.argv))
    if a.report:
        from ._atomic import atomic_write

        with atomic_write(a.report, "w") as f:
            f.write(text)
        print(f"Report written to {a.report}", file=sys.stderr)
    print(_for_stdout(text))
    return 0


#: `lstmcore tasks show NAME`: the task of each name, built from --size (the paper's size by default)
TASK_NAMES = ("reber", "2a", "2b", "2c", "3a", "3b", "3c", "4", "5", "6a", "6b")


def _make_task(name: str, size: Optional[int]) -> Any:
    from . import tasks

    if name in ("2a", "2b"):
        cls = tasks.NoiseFreeLongLag if name == "2a" else tasks.NoLocalRegularities
        return cls(p=size or 100)
    if name == "2c":
        return tasks.VeryLongLag(p=size or 50, q=size or 50)
    if name in ("3a", "3b", "3c"):
        return tasks.TwoSequence(T=size or 100, N=3, variant=name)
    if name in ("4", "5"):
        return (tasks.Adding if name == "4" else tasks.Multiplication)(T=size or 100)
    return tasks.TemporalOrder(name)


def _symbol_names(task: Any) -> tuple:
    """The names of a one-hot task's input and output units (None where the units are not symbols):
    2a/2b: a_1 .. a_(p-1), x, y (inputs and next-symbol targets); 2c: a_1 .. a_p, e, b, x, y in, x, y
    out; 6a/6b: a b c d B E X Y in, the classes (Q R S U ...) out."""
    from .tasks.longlag import VeryLongLag, _NextSymbolTask
    from .tasks.temporal_order import TemporalOrder

    if isinstance(task, _NextSymbolTask):
        names = [f"a_{i}" for i in range(1, task.p)] + ["x", "y"]
        return names, names
    if isinstance(task, VeryLongLag):
        return [f"a_{i}" for i in range(1, task.p + 1)] + ["e", "b", "x", "y"], ["x", "y"]
    if isinstance(task, TemporalOrder):
        return list(task.alphabet), list(task.class_names)
    return None, None


def _cmd_tasks(a: argparse.Namespace) -> int:
    rng = np.random.default_rng(a.seed)
    if a.task == "reber":
        from .tasks import EmbeddedReber

        task = EmbeddedReber()
        string = task.sample_string(rng)
        legal = task.legal_next(string)
        print(f"embedded Reber string: {string}  (x = all but the last symbol, target = the next symbol)")
        for t, symbol in enumerate(string[:-1]):
            allowed = "".join(c for c, ok in zip(task.alphabet, legal[t]) if ok)
            print(f"  t={t:2d}  input {symbol}  target {string[t + 1]}  legal next {{{allowed}}}")
        return 0
    if a.size is not None and a.size < 1:
        raise ValueError(f"--size: expected a positive number, got {a.size}")
    task = _make_task(a.task, a.size)
    x, target, mask = task.sample(rng)
    print(task.describe())
    print(f"one sample (seed {a.seed}): {x.shape[0]} steps, {x.shape[1]} inputs, {target.shape[1]} outputs; "
          "'-' = no target at that step")
    one_hot = bool(np.all((x == 0) | (x == 1)) and np.all(x.sum(axis=1) == 1))

    def values(v: np.ndarray) -> str:
        return "[" + " ".join(f"{u:6.3f}" for u in v) + "]"

    in_names, out_names = _symbol_names(task)
    for t in range(x.shape[0]):
        i = int(np.argmax(x[t]))
        shown = (f"input {in_names[i] if in_names else 'symbol ' + str(i):>6s}" if one_hot else f"input {values(x[t])}")
        hot = bool(np.all((target[t] == 0) | (target[t] == 1)) and target[t].sum() == 1)
        j = int(np.argmax(target[t]))
        tgt = ("-" if not mask[t] else (out_names[j] if out_names else f"symbol {j}") if hot else values(target[t]))
        print(f"  t={t:4d}  {shown}  target {tgt}")
    return 0


def _cmd_report(a: argparse.Namespace) -> int:
    from .experiments.report import write_report
    from .experiments.results import archive_records

    from .experiments.results import check_file_path

    sources = a.results or [os.path.join("results", "reproduce.jsonl")]
    for path in sources:
        check_file_path("--results", path, existing=True, write=False)
    if a.out is not None:
        check_file_path("--out", a.out)
    if a.archive:
        check_file_path("--archive", a.archive)
    if a.archive:
        n = archive_records(sources, a.archive)
        print(f"{n} trials (without learning curves) written to {a.archive}", file=sys.stderr if a.out is None else sys.stdout)
        sources = [a.archive]
    command = "lstmcore report " + " ".join(f"--results {s}" for s in sources) + (f" --out {a.out}" if a.out else "")
    if a.out is None:  # the report goes to stdout; no findings file: a report of the user's own results
        from .experiments.report import render_report
        from .experiments.results import load_records
        records = [r for s in sources for r in load_records(s)]
        print(render_report(records, command=command, sources=sources))
        return 0
    write_report(sources, a.out, command=command)
    print(f"Report written to {a.out}")
    return 0


def _parse_set(items: Optional[List[str]]) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set: expected KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _cmd_reproduce_list(a: argparse.Namespace) -> int:
    from .experiments.registry import EXPERIMENTS
    from .experiments.runner import estimate_cost

    head = f"{'experiment':15s} {'table':>5s} {'trials':>6s} {'weights':>7s} {'lr':>5s} {'budget':>10s}  {'stop at':28s} {'paper mean':>10s}"
    if a.cost:
        head += f" {'us/step':>8s} {'steps/seq':>9s} {'trial@paper':>11s} {'trial@budget':>12s}"
    print(head)
    for e in EXPERIMENTS.values():
        final = {p.milestone: p for p in e.paper}.get(e.final_milestone.name)
        mean = f"{final.mean_sequences:,.0f}" if final is not None and final.mean_sequences else "-"
        line = (f"{e.name:15s} {e.table:5d} {e.trials:6d} {e.weights:7d} {e.lr:5g} {e.max_sequences:10,d}  "
                f"{', '.join(m.name for m in e.milestones):28s} {mean:>10s}")
        if a.cost:
            c = estimate_cost(e, target_seconds=0.3)
            exp_s = f"{c['expected_seconds']:,.0f} s" if c["expected_seconds"] else "-"
            line += f" {c['us_per_step']:8.2f} {c['steps_per_sequence']:9.1f} {exp_s:>11s} {c['budget_seconds']:>10,.0f} s"
        print(line, flush=True)
    print("\nSelect by name, by group (1, 2a, 2b, 2c, 3a, 3b, 3c, 4, 5, 6a, 6b), by table (table1..table9) or 'all'.")
    return 0


def _hours(h: float) -> str:
    """Core-hours with two decimals, or three significant digits below 1."""
    return f"{h:,.2f}" if h >= 1 else f"{h:.3g}"


def _cmd_reproduce_estimate(exps: list, a: argparse.Namespace) -> int:
    """Core-hours of a full-protocol run per row, from a measured cost per training step."""
    from .experiments.runner import estimate_cost

    print(f"{'experiment':15s} {'trials':>6s} {'us/step':>8s} {'steps/seq':>9s} {'paper mean':>10s} {'budget':>10s}"
          f" {'core-h @paper':>13s} {'core-h @budget':>14s}")
    total_paper = total_budget = 0.0
    for e in exps:
        c = estimate_cost(e, target_seconds=0.3)
        n = e.trials if a.trials is None else a.trials
        at_paper = n * c["expected_seconds"] / 3600 if c["expected_seconds"] else None
        at_budget = n * c["budget_seconds"] / 3600
        total_paper += at_paper or 0.0
        total_budget += at_budget
        mean = f"{c['expected_sequences']:,.0f}" if c["expected_sequences"] else "-"
        paper_h = _hours(at_paper) if at_paper is not None else "-"
        print(f"{e.name:15s} {n:6d} {c['us_per_step']:8.3f} {c['steps_per_sequence']:9.1f} {mean:>10s} "
              f"{e.max_sequences:10,d} {paper_h:>13s} {_hours(at_budget):>14s}", flush=True)
    print(f"\nTotal: {total_paper:,.1f} core-hours if every trial stops at the paper's mean, {total_budget:,.1f} if "
          "every trial uses its whole budget (trials x sequences x steps per sequence x measured us per step; "
          "the per-step cost includes checks at the --quick form's set sizes).")
    return 0


def _cmd_reproduce(a: argparse.Namespace) -> int:
    import time

    from .experiments.registry import select_experiments
    from .experiments.report import format_table, plot, summary_rows, write_report
    from .experiments.results import load_records
    from .experiments.runner import completed_trials, resolve, run_experiments, trial_key

    if a.list:
        return _cmd_reproduce_list(a)
    if a.selector is None:
        raise ValueError("selector: expected an experiment, a group, a table or 'all' (see --list)")
    from .experiments.checks import check_trials
    from .experiments.results import check_file_path

    exps = select_experiments(a.selector)
    overrides = _parse_set(a.set)
    if a.trials is not None:
        check_trials("--trials", a.trials)
    if a.jobs < 1:
        raise ValueError(f"--jobs: expected a positive number, got {a.jobs}")
    # every file the run writes, checked before any trial runs
    check_file_path("--results", a.results)
    for flag, path in (("--report", a.report), ("--plot", a.plot)):
        if path is not None:
            check_file_path(flag, path)
    if a.estimate:
        return _cmd_reproduce_estimate(exps, a)
    if a.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("lstmcore: error: --plot needs matplotlib, which is not installed: "
                  "pip install matplotlib (in a checkout of lstmcore: pip install \".[plot]\")", file=sys.stderr)
            return 2
        from matplotlib.backend_bases import FigureCanvasBase

        kinds = FigureCanvasBase.get_supported_filetypes()
        suffix = os.path.splitext(a.plot)[1].lstrip(".").lower() or "png"
        if suffix not in kinds:
            raise ValueError(f"--plot: expected a file name ending in one of {', '.join(sorted(kinds))}, got {a.plot!r}")
    for e in exps:
        resolve(e, quick=a.quick, overrides=overrides)  # bad settings fail before anything runs
    records = load_records(a.results)
    plan = []
    for e in exps:
        key = trial_key(e.name, a.seed, a.quick, overrides)
        n = e.trials if a.trials is None else a.trials
        plan.append((e, key, n, {i for i in completed_trials(records, key) if i < n}))
    todo = sum(n - len(done) for _, _, n, done in plan)
    print(f"{len(exps)} experiment(s), {sum(n for _, _, n, _ in plan)} trials ({todo} to run, the rest found in "
          f"{a.results}), {a.jobs} job(s){', quick form' if a.quick else ''}", file=sys.stderr)
    bar = Progress(max(1, todo), "trials")
    finished = [0]
    found = {e.name: done for e, _, _, done in plan}
    t0 = time.perf_counter()

    def on_result(r):
        if r["trial"] in found[r["experiment"]]:
            return
        finished[0] += 1
        bar.update(finished[0], f"done, last: {r['experiment']} trial {r['trial']} "
                                f"{'reached' if r['success'] else 'did not reach'} "
                                f"{resolve(r['experiment']).final_milestone.name} ({r['sequences']:,} sequences)",
                   force=True)

    run_experiments([(e, n) for e, _, n, _ in plan], a.results, jobs=a.jobs, seed=a.seed, quick=a.quick,
                    on_result=on_result, overrides=overrides or None)
    bar.close()
    keys = {key: n for _, key, n, _ in plan}
    mine = [r for r in load_records(a.results) if r.get("key") in keys and r.get("trial", 0) < keys[r["key"]]]
    print(_for_stdout(format_table(summary_rows(mine))))
    print(f"Wall time {time.perf_counter() - t0:.1f} s for {todo} trial(s); results in {a.results}")
    if a.plot:
        plot(mine, a.plot)
        print(f"Plot written to {a.plot}")
    if a.report:
        command = "lstmcore " + " ".join(a.argv)
        write_report(a.results, a.report, command=command)
        print(f"Report written to {a.report}")
    return 0


class _VersionAction(argparse._VersionAction):
    """`lstmcore --version`: the version and, on a second line, the compiled core that runs (its ISA
    level, the levels compiled in, the CPU's best: lstmcore._load_core), printed as is (argparse's
    own version action would rewrap the lines)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        from . import _core
        print(f"lstmcore {self.version}\ncore: {_core.kernel_level()} (compiled: {', '.join(_core.isa_levels())}; "
              f"this CPU runs up to {_core.cpu_level()}; GEMM kernels {_core.gemm_kernel()})")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__

    p = _Parser(prog="lstmcore", description="LSTM as Hochreiter & Schmidhuber defined it in 1997.")
    p.add_argument("--version", action=_VersionAction, version=__version__,
                   help="print the version and the compiled core that runs, then exit")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("reber", help="Experiment 1: the embedded Reber grammar")
    r.add_argument("--blocks", type=int, default=3, help="memory cell blocks")
    r.add_argument("--cells", type=int, default=2, help="cells per block")
    r.add_argument("--lr", type=float, default=0.5, help="learning rate")
    r.add_argument("--max-sequences", type=int, default=None,
                   help="training budget in strings (default: the experiment's budget, as `lstmcore reproduce` uses)")
    r.add_argument("--data-seed", type=int, default=DEMO_DATA_SEED, help="seed of the training and test strings")
    r.add_argument("--init-seed", type=int, default=DEMO_INIT_SEED, help="seed of the initial weights")
    r.add_argument("--trials", type=int, default=None,
                   help="run the paper's protocol: ceil(N/10) set pairs x min(N,10) seeds")
    r.add_argument("--jobs", type=int, default=available_cpus(),
                   help="worker processes for --trials/--readings (default: the CPUs this process may use, %(default)s)")
    r.add_argument("--json", action="store_true", help="also print the results as JSON")
    r.add_argument("--results", default=None, metavar="FILE",
                   help="with --trials or --readings: JSONL results file; finished trials in it are not run again")
    r.add_argument("--report", default=None, metavar="FILE", help="with --readings: write the table here")
    _reading_args(r)
    r.set_defaults(func=_cmd_reber)

    rp = sub.add_parser("reproduce", help="rerun the paper's experiments (Tables 1-9) beside its numbers")
    rp.add_argument("selector", nargs="?", help="experiment name, group (e.g. 3a), table (table1..table9) or 'all'")
    rp.add_argument("--list", action="store_true", help="list the experiments")
    rp.add_argument("--cost", action="store_true", help="with --list: measure the cost per step and per trial")
    rp.add_argument("--estimate", action="store_true",
                    help="print the core-hours a full-protocol run of the selected rows would take, from a "
                         "measured cost per training step (runs nothing else)")
    rp.add_argument("--trials", type=int, default=None, help="trials per experiment (default: the paper's count)")
    rp.add_argument("--quick", action="store_true", help="tiny budgets: every experiment end to end in seconds")
    rp.add_argument("--results", default=os.path.join("results", "reproduce.jsonl"),
                    help="JSONL results file; finished trials in it are not run again (default: %(default)s)")
    rp.add_argument("--jobs", type=int, default=available_cpus(),
                    help="worker processes (default: the CPUs this process may use, %(default)s)")
    rp.add_argument("--seed", type=int, default=0, help="seed of the run (trial i uses (seed, i))")
    rp.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="change a setting, e.g. --set out_activation=linear --set max_sequences=100000")
    rp.add_argument("--plot", metavar="FILE", help="plot learning curves and sequences per trial (needs matplotlib)")
    rp.add_argument("--report", metavar="FILE", help="write the reproduction report (markdown) from the results file")
    rp.set_defaults(func=_cmd_reproduce)

    t = sub.add_parser("tasks", help="the paper's tasks")
    tsub = t.add_subparsers(dest="tasks_command", required=True)
    show = tsub.add_parser("show", help="print a sample sequence")
    show.add_argument("task", choices=TASK_NAMES, help="reber (Exp. 1) or an experiment's task: 2a .. 6b")
    show.add_argument("--seed", type=int, default=0, help="seed of the sample")
    show.add_argument("--size", type=int, default=None,
                      help="p for 2a/2b/2c (and q for 2c), T for 3a-5 (default: the paper's first row)")
    show.set_defaults(func=_cmd_tasks)

    rep = sub.add_parser("report", help="the reproduction report (markdown) from results files of `lstmcore reproduce`")
    rep.add_argument("--results", action="append", metavar="FILE",
                     help="a JSONL results file (repeat for several; default: results/reproduce.jsonl)")
    rep.add_argument("--out", default=None, metavar="FILE",
                     help="write the report to FILE, with the findings of FINDINGS.md beside it if there is one "
                          "(default: print it to stdout)")
    rep.add_argument("--archive", metavar="FILE",
                     help="first gather the trials of all files, without learning curves, into FILE (small enough "
                          "to keep in the repository) and build the report from it")
    rep.set_defaults(func=_cmd_report)

    from .analysis._cli import add_error_flow_parser  # lstmcore error-flow (section 3), self-contained
    add_error_flow_parser(sub)
    return p


class Terminated(KeyboardInterrupt):
    """SIGTERM (what ``timeout``, systemd and Slurm send) arrived: handled like Ctrl-C."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command; a user's mistake (a bad value, a path that cannot be used, a size too large
    for this machine, a results file in use) is one line on stderr and exit code 2, never a
    traceback. Ctrl-C (exit 130) and SIGTERM (exit 143) stop the run's workers; finished trials
    are already in the results file and a rerun of the same command resumes from them."""
    import signal
    import threading

    from .experiments.results import ResultsFileBusy, ResultsFileWarning

    args = build_parser().parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    installed = threading.current_thread() is threading.main_thread()
    if installed:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    shown = set()

    def show_warning(message, category, filename, lineno, file=None, line=None):
        # one line per distinct warning (a damaged results file is read more than once per run)
        text = f"lstmcore: warning: {message}"
        if text not in shown:
            shown.add(text)
            print(text, file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", ResultsFileWarning)
            warnings.showwarning = show_warning
            code = args.func(args)
            sys.stdout.flush()  # a closed pipe shows here, inside the handler below, not at exit
            return code
    except BrokenPipeError:
        # the reader of stdout went away (`lstmcore ... | head`): stop quietly, as a program killed
        # by SIGPIPE does; stdout goes to /dev/null so the interpreter's final flush cannot fail
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except (ValueError, TypeError, MemoryError, ResultsFileBusy) as exc:
        print(f"lstmcore: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the user named cannot be read or written
        print(f"lstmcore: error: {exc.strerror or exc}"
              + (f": {exc.filename!r}" if exc.filename else ""), file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        print(f"\n{what}: the workers are stopped; finished trials are kept in the results file, and running "
              "the same command again resumes from them", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        if installed:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
