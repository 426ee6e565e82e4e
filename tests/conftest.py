import os
import sys

# tests/reference.py (the pure-NumPy specification) is imported as `reference`.
sys.path.insert(0, os.path.dirname(__file__))

import casecount  # noqa: E402

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # pragma: no cover - the test extras install hypothesis
    pass
else:
    # One fixed profile: the same examples on every run (derandomize), a bounded budget, no
    # per-example deadline (CI machines are shared). HYPOTHESIS_PROFILE=explore searches more.
    settings.register_profile("ci", derandomize=True, max_examples=100, deadline=None, database=None,
                              print_blob=True, suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("explore", max_examples=2000, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_terminal_summary(terminalreporter):
    if casecount.COUNTS:
        terminalreporter.section("generated cases")
        for name, n in sorted(casecount.COUNTS.items()):
            terminalreporter.write_line(f"{name}: {n}")
        fuzz = sum(n for name, n in casecount.COUNTS.items() if name.startswith("fuzz:"))
        if fuzz:
            terminalreporter.write_line(f"fuzz cases in total: {fuzz}")
