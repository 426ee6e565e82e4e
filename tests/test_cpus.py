"""The default CPU count (lstmcore._cpus): affinity mask, cgroup CPU quota, OMP_NUM_THREADS."""
import os

import pytest

import lstmcore
from lstmcore import _cpus


def _cgroup_v2(tmp_path, cpu_max_by_dir):
    """A fake cgroup v2 tree: the process in /a/b, cpu.max files where given."""
    (tmp_path / "proc").write_text("0::/a/b\n")
    for rel, text in cpu_max_by_dir.items():
        d = tmp_path / "cg" / rel
        d.mkdir(parents=True, exist_ok=True)
        (d / "cpu.max").write_text(text)
    return str(tmp_path / "cg"), str(tmp_path / "proc")


def test_cgroup_v2_quota_is_rounded_up_and_the_smallest_ancestor_wins(tmp_path):
    root, proc = _cgroup_v2(tmp_path, {"": "max 100000\n", "a": "250000 100000\n", "a/b": "max 100000\n"})
    assert _cpus.cgroup_cpu_limit(root, proc) == 3      # ceil(2.5)
    root, proc = _cgroup_v2(tmp_path, {"a": "50000 100000\n", "a/b": "400000 100000\n"})
    assert _cpus.cgroup_cpu_limit(root, proc) == 1


def test_cgroup_v2_without_quota_is_no_limit(tmp_path):
    root, proc = _cgroup_v2(tmp_path, {"": "max 100000\n", "a/b": "max 100000\n"})
    assert _cpus.cgroup_cpu_limit(root, proc) is None
    assert _cpus.cgroup_cpu_limit(str(tmp_path / "missing"), str(tmp_path / "missing-proc")) is None


def test_cgroup_v1_quota(tmp_path):
    (tmp_path / "proc").write_text("4:cpu,cpuacct:/job\n3:memory:/job\n")
    d = tmp_path / "cg" / "cpu" / "job"
    d.mkdir(parents=True)
    (d / "cpu.cfs_quota_us").write_text("200000\n")
    (d / "cpu.cfs_period_us").write_text("100000\n")
    assert _cpus.cgroup_cpu_limit(str(tmp_path / "cg"), str(tmp_path / "proc")) == 2
    (d / "cpu.cfs_quota_us").write_text("-1\n")
    assert _cpus.cgroup_cpu_limit(str(tmp_path / "cg"), str(tmp_path / "proc")) is None


def test_available_cpus_is_the_affinity_mask_bounded_by_the_quota(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5}, raising=False)
    monkeypatch.setattr(_cpus, "cgroup_cpu_limit", lambda: None)
    assert _cpus.available_cpus() == 6
    monkeypatch.setattr(_cpus, "cgroup_cpu_limit", lambda: 2)
    assert _cpus.available_cpus() == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    assert _cpus.available_cpus() == 1


@pytest.mark.parametrize("value, expected", [("1", 1), ("2,1", 2), (" 1 ", 1), ("0", None), ("-3", None),
                                             ("abc", None), ("", None)])
def test_default_threads_honours_a_positive_omp_num_threads(monkeypatch, value, expected):
    monkeypatch.setattr(_cpus, "available_cpus", lambda: 1)
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert _cpus.default_threads() == (expected if expected is not None else 1)


def test_default_threads_is_bounded_by_max_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", str(lstmcore.max_threads() + 100))
    assert _cpus.default_threads() == lstmcore.max_threads()


def test_layers_take_the_default(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert lstmcore.LSTM(3, 4).num_threads == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(_cpus, "available_cpus", lambda: 1)
    assert lstmcore.LSTM(3, 4).num_threads == 1


def test_cli_jobs_default_is_the_available_cpus(monkeypatch):
    from lstmcore import cli
    monkeypatch.setattr(cli, "available_cpus", lambda: 7)
    parser = cli.build_parser()
    assert parser.parse_args(["reber"]).jobs == 7
    assert parser.parse_args(["reproduce", "6a"]).jobs == 7
