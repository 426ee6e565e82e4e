"""The ``lstmcore error-flow`` command: section 3's error-flow analysis as a table (and a plot)."""
from __future__ import annotations

import argparse
import sys

from ._error_flow import DEFAULT_WEIGHTS, MAX_LAG, TABLE_LAGS, error_flow


def _cmd_error_flow(a: argparse.Namespace) -> int:
    result = error_flow(a.q_max, a.weights, bias=a.bias, units=a.units)
    print(result.table([q for q in a.lags if q <= a.q_max]))
    if a.plot:
        try:
            result.plot(a.plot)
        except ImportError as exc:
            print(f"lstmcore: error: {exc}", file=sys.stderr)
            return 2
        print(f"plot written to {a.plot}")
    return 0


def add_error_flow_parser(sub: "argparse._SubParsersAction") -> None:
    """Add the ``error-flow`` subcommand to the ``lstmcore`` command's subparsers."""
    e = sub.add_parser("error-flow", help="section 3: how errors scale back in time, conventional unit vs LSTM's CEC")
    e.add_argument("--q-max", type=int, default=1000, help=f"longest lag (1..{MAX_LAG}, default: %(default)s)")
    e.add_argument("--weights", type=float, nargs="+", default=list(DEFAULT_WEIGHTS), metavar="W",
                   help="self-weights of the conventional logistic unit (critical value 4.0)")
    e.add_argument("--bias", type=float, default=None,
                   help="let the unit run freely with this bias (default: net input held at 0, where f' = 1/4)")
    e.add_argument("--units", type=int, default=1,
                   help="n fully connected conventional units, every weight w (critical value 4/n; default: 1)")
    e.add_argument("--lags", type=int, nargs="+", default=list(TABLE_LAGS), metavar="Q", help="table columns")
    e.add_argument("--plot", metavar="FILE", help="draw both curves on a log scale (needs matplotlib)")
    e.set_defaults(func=_cmd_error_flow)
