"""The table of bench/rtrl_native_vs_portable.sh and bench/layer_native_vs_portable.sh.

Reads lines `ROUND KIND CASE VALUE` (VALUE: a time, lower is better) from the file given, written by
the scripts while they alternate the builds round after round, and prints a markdown table: per
case, the median over rounds of each kind and, for each kind after the first (the peer), the ratio
of the medians and the spread of the per-round ratios (min-max), which shows how noisy the machine
was.

Usage: python bench/alternating_table.py TIMES_FILE UNIT
"""
import statistics
import sys
from collections import defaultdict


def main(path: str, unit: str) -> None:
    times = defaultdict(dict)  # (case) -> {kind: {round: value}}
    kinds = []
    for line in open(path, encoding="utf-8"):
        parts = line.split()
        if len(parts) < 4:
            continue
        rnd, kind, case, value = parts[0], parts[1], " ".join(parts[2:-1]), float(parts[-1])
        if kind not in kinds:
            kinds.append(kind)
        times[case].setdefault(kind, {})[rnd] = value
    peer = kinds[0]
    head = ["case"] + [f"{k} median {unit}" for k in kinds] + [f"{k} / {peer} (per-round min-max)" for k in kinds[1:]]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for case, by_kind in times.items():
        cells = [case]
        for k in kinds:
            cells.append(f"{statistics.median(by_kind[k].values()):.4g}" if k in by_kind else "-")
        for k in kinds[1:]:
            if k not in by_kind or peer not in by_kind:
                cells.append("-")
                continue
            ratio = statistics.median(by_kind[k].values()) / statistics.median(by_kind[peer].values())
            per_round = [by_kind[k][r] / by_kind[peer][r] for r in by_kind[k] if r in by_kind[peer]]
            cells.append(f"{ratio:.3f} ({min(per_round):.2f}-{max(per_round):.2f}, {len(per_round)} rounds)")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
