"""lstmcore.analysis.error_flow: section 3's error-flow analysis, measured with the engines,
against the theory (the product of f'(net) w per step; a factor of exactly 1 through the CEC)."""
import numpy as np
import pytest

from lstmcore import cli
from lstmcore.analysis import error_flow


def test_held_at_the_steepest_point_the_factor_is_w_over_4_to_the_q():
    r = error_flow(200, [2.0, 4.0, 5.0])
    q = np.arange(201)
    for w in (2.0, 4.0, 5.0):
        np.testing.assert_allclose(r.conventional[w], (w / 4.0) ** q, rtol=1e-12)
        np.testing.assert_allclose(r.predicted_log10[w], q * np.log10(w / 4.0), atol=1e-9)
    # vanishing below the critical weight 4.0, constant at it, exploding above
    assert r.conventional[2.0][200] < 1e-59 and r.conventional[4.0][200] == 1.0 and r.conventional[5.0][200] > 1e19


@pytest.mark.parametrize("bias", [-1.0, 0.5])
def test_free_running_unit_matches_the_product_of_f_prime_w(bias):
    # an independent trajectory of one self-connected logistic unit: net(s) = w a(s-1) + b
    w, T = 3.0, 60
    r = error_flow(T - 1, [w], bias=bias)
    a, fprime = 0.0, []
    for _ in range(T):
        a = 1.0 / (1.0 + np.exp(-(w * a + bias)))
        fprime.append(a * (1.0 - a))
    expected = np.concatenate([[1.0], np.cumprod(np.array(fprime[:-1])[::-1] * w)])
    np.testing.assert_allclose(r.conventional[w], expected, rtol=1e-10)
    np.testing.assert_allclose(10.0 ** r.predicted_log10[w], expected, rtol=1e-10)
    assert np.all(np.diff(r.conventional[w]) < 0)  # |f' w| < 1 on this trajectory: vanishing


def test_constant_error_carousel_factor_is_exactly_one():
    r = error_flow(1000, [1.0])
    assert r.cec.shape == (1001,)
    assert np.all(r.cec == 1.0)


def test_table_and_bad_arguments():
    r = error_flow(100, [3.0, 5.0])
    table = r.table([10, 100])
    assert "q=10" in table and "constant error carousel" in table and "w = 5" in table
    with pytest.raises(ValueError, match="q_max: expected an integer >= 1"):
        error_flow(0)
    with pytest.raises(ValueError, match="q_max"):
        error_flow(10**6)
    with pytest.raises(ValueError, match="weights: expected at least one"):
        error_flow(10, [])
    with pytest.raises(TypeError, match=r"weights\[0\]: expected a real number"):
        error_flow(10, ["a"])
    with pytest.raises(ValueError, match="bias: expected a finite number"):
        error_flow(10, bias=float("nan"))


def test_cli_prints_the_table(capsys, tmp_path):
    assert cli.main(["error-flow", "--q-max", "100", "--weights", "3", "4.5", "--lags", "10", "100"]) == 0
    out = capsys.readouterr().out
    assert "self-weight w = 4.5" in out and "constant error carousel" in out


def test_cli_plot(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "flow.png"
    assert cli.main(["error-flow", "--q-max", "50", "--plot", str(path)]) == 0
    assert path.stat().st_size > 1000


def test_fully_connected_units_critical_weight_is_4_over_n():
    # n units, every weight w, held at net = 0: the paths sum to (n w / 4)^q / n for q >= 1
    n = 3
    r = error_flow(150, [1.0, 4.0 / 3.0, 1.6], units=n)
    q = np.arange(1, 151)
    for w in (1.0, 4.0 / 3.0, 1.6):
        np.testing.assert_allclose(r.conventional[w][1:], (n * w / 4.0) ** q / n, rtol=1e-10)
        np.testing.assert_allclose(r.predicted_log10[w][1:], q * np.log10(n * w / 4.0) - np.log10(n), atol=1e-9)
    assert r.conventional[1.0][150] < 1e-18 and r.conventional[1.6][150] > 1e10
    assert "3 fully connected logistic units" in r.table()


def test_fully_connected_free_run_matches_the_path_sum():
    r = error_flow(80, [2.5, -3.0], bias=0.3, units=2)
    for w in (2.5, -3.0):
        np.testing.assert_allclose(r.conventional[w], 10.0 ** r.predicted_log10[w], rtol=1e-9)
