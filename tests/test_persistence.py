"""Model files (save/load: exact round trip; truncated, corrupted, foreign, version-mismatched and
pickle-bearing files refused) and torch interop (from_torch / to_torch)."""
import json
import zipfile

import numpy as np
import pytest

import lstmcore
from lstmcore import _io


def nets():
    yield lstmcore.LSTM1997(3, 2, 2, 2, bias="all", forget_gate=True, peepholes=True, g="tanh", seed=1)
    yield lstmcore.LSTM1997(7, 7, 3, 2, dtype=np.float32, output_gate_bias=[-1, -2, -3], seed=2)
    yield lstmcore.LSTM(3, 4, 2, bidirectional=True, batch_first=True, seed=3)
    yield lstmcore.LSTM(2, 3, bias=False, peepholes=True, dtype=np.float64, seed=4)


def weights(m):
    return m.get_weights() if isinstance(m, lstmcore.LSTM1997) else m.state_dict()


def outputs(m):
    rng = np.random.default_rng(0)
    if isinstance(m, lstmcore.LSTM1997):
        return m.forward(rng.normal(size=(6, m.n_in)))
    return m(rng.normal(size=(2, 5, m.input_size)))[0]


@pytest.mark.parametrize("model", list(nets()), ids=repr)
def test_round_trip_is_exact(model, tmp_path):
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = type(model).load(path)
    assert repr(loaded) == repr(model)
    w, w2 = weights(model), weights(loaded)
    assert list(w) == list(w2)
    for k in w:
        assert w2[k].dtype == w[k].dtype and np.array_equal(w2[k], w[k]), k
    np.testing.assert_array_equal(outputs(loaded), outputs(model))


def test_save_writes_exactly_the_given_path(tmp_path):
    net = lstmcore.LSTM1997(1, 1, 1, seed=0)
    net.save(tmp_path / "model")  # no ".npz" appended
    assert (tmp_path / "model").exists() and not (tmp_path / "model.npz").exists()


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "m.npz"
    lstmcore.LSTM1997(2, 1, 2, 2, bias="all", seed=0).save(path)
    return path


def test_truncated_file_is_refused(saved):
    data = saved.read_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 5):
        saved.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="path"):
            lstmcore.LSTM1997.load(saved)


def test_corrupted_array_is_refused(saved, tmp_path):
    with np.load(saved) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["W_cell"] = arrays["W_cell"].copy()
    arrays["W_cell"][0, 0] += 1e-12  # one changed weight, metadata untouched
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match="checksum"):
        lstmcore.LSTM1997.load(bad)


def rewrite_meta(src, dst, **changes):
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(bytes(arrays[_io._META]).decode())
    meta.update(changes)
    arrays[_io._META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(dst, **arrays)


def test_version_kind_and_foreign_files_are_refused(saved, tmp_path):
    rewrite_meta(saved, tmp_path / "v2.npz", format_version=2)
    with pytest.raises(ValueError, match="version"):
        lstmcore.LSTM1997.load(tmp_path / "v2.npz")
    with pytest.raises(ValueError, match="'LSTM1997' model, expected 'LSTM'"):
        lstmcore.LSTM.load(saved)
    np.savez(tmp_path / "plain.npz", W_cell=np.zeros(3))
    with pytest.raises(ValueError, match="not an lstmcore model file"):
        lstmcore.LSTM1997.load(tmp_path / "plain.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not an .npz archive"):
        lstmcore.LSTM1997.load(tmp_path / "single.npy")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="path"):
        lstmcore.LSTM1997.load(tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError):
        lstmcore.LSTM1997.load(tmp_path / "missing.npz")


class Boom:
    def __reduce__(self):
        return (exec, ("raise SystemExit('pickle executed')",))


def test_pickle_bearing_file_is_refused_and_never_executed(saved, tmp_path):
    with np.load(saved) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["W_cell"] = np.array([Boom()], dtype=object)
    evil = tmp_path / "evil.npz"
    np.savez(evil, **arrays)  # np.savez pickles object arrays
    with zipfile.ZipFile(evil) as zf:
        assert "W_cell.npy" in zf.namelist()
    with pytest.raises(ValueError, match="path"):
        lstmcore.LSTM1997.load(evil)


def test_torch_round_trip():
    torch = pytest.importorskip("torch")
    module = torch.nn.LSTM(3, 5, 2, bidirectional=True, batch_first=True).double()
    layer = lstmcore.LSTM.from_torch(module)
    assert layer.dtype == np.float64 and layer.batch_first and layer.bidirectional and layer.num_layers == 2
    x = np.random.default_rng(0).normal(size=(2, 4, 3))
    ours = layer(x)[0]
    theirs = module(torch.from_numpy(x))[0].detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    back = layer.to_torch()
    for name, value in module.state_dict().items():
        assert torch.equal(back.state_dict()[name], value), name
    with pytest.raises(TypeError, match="module"):
        lstmcore.LSTM.from_torch(torch.nn.GRU(3, 5))
    assert lstmcore.LSTM.from_torch(torch.nn.LSTM(3, 5, proj_size=2)).proj_size == 2  # tests/test_lstm_proj.py
    with pytest.raises(ValueError, match="peepholes"):
        lstmcore.LSTM(3, 5, peepholes=True).to_torch()


def test_impossible_array_header_is_refused_without_allocating(saved, tmp_path):
    # A member whose .npy header declares 2^40 float64 (8 TiB) but holds a few bytes.
    import io
    with zipfile.ZipFile(saved) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (2**40,)})
    members["W_cell.npy"] = header.getvalue() + b"\0" * 64
    bad = tmp_path / "huge.npz"
    with zipfile.ZipFile(bad, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ValueError, match="path"):
        lstmcore.LSTM1997.load(bad)


@pytest.mark.parametrize("change", [{"n_in": 2**40}, {"n_in": -1}, {"blocks": "3"}, {"unknown": 1},
                                    {"dtype": "object"}, {"seed": 1}])
def test_invalid_configuration_in_file_is_refused_naming_path(saved, tmp_path, change):
    with np.load(saved) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(bytes(arrays[_io._META]).decode())
    meta["config"].update(change)
    arrays[_io._META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(tmp_path / "cfg.npz", **arrays)
    with pytest.raises(ValueError, match="path: the model configuration"):
        lstmcore.LSTM1997.load(tmp_path / "cfg.npz")


def test_path_of_wrong_type_is_named():
    net = lstmcore.LSTM1997(1, 1, 1, seed=0)
    for bad in (3.5, None, ["m.npz"]):
        with pytest.raises(TypeError, match="path: expected a str or os.PathLike"):
            net.save(bad)
        with pytest.raises(TypeError, match="path: expected a str or os.PathLike"):
            lstmcore.LSTM.load(bad)
