"""Model files under faults: saves are atomic (an error or a kill mid-save keeps the previous file
loadable, concurrent saves leave one complete file), non-finite models are refused at save as at
load, loaders refuse FIFOs and devices before opening them, and archives are checked (names,
declared shapes, sizes, no compression) before any array data is read."""
import io
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import tracemalloc
import zipfile

import numpy as np
import pytest

import lstmcore
from lstmcore import _io


def same_weights(a, b):
    wa = a.get_weights() if isinstance(a, lstmcore.LSTM1997) else a.state_dict()
    wb = b.get_weights() if isinstance(b, lstmcore.LSTM1997) else b.state_dict()
    return list(wa) == list(wb) and all(np.array_equal(wa[k], wb[k]) for k in wa)


def models():
    yield lstmcore.LSTM1997(3, 2, 2, 2, seed=1)
    yield lstmcore.LSTM(3, 4, 2, seed=2)


# ---- atomic saves ---------------------------------------------------------------------------------

@pytest.mark.parametrize("model", list(models()), ids=lambda m: type(m).__name__)
def test_failure_mid_save_keeps_the_previous_file(model, tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    model.save(path)
    before = path.read_bytes()

    real_savez = np.savez

    def savez_then_fail(f, **arrays):  # writes part of an archive, then dies
        real_savez(f, **arrays)
        f.truncate(f.tell() // 2)
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", savez_then_fail)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert same_weights(type(model).load(path), model)
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]  # no temporary left behind


KILL_SAVER = r"""
import sys, lstmcore
net = lstmcore.LSTM(64, 256, 2, seed=int(sys.argv[2]))
print("ready", flush=True)
while True:
    net.save(sys.argv[1])
"""


def test_kill_mid_save_keeps_a_loadable_file(tmp_path):
    path = tmp_path / "m.npz"
    first = lstmcore.LSTM(64, 256, 2, seed=0)
    first.save(path)
    candidates = [first, lstmcore.LSTM(64, 256, 2, seed=1)]
    for delay in (0.05, 0.13, 0.21, 0.34):
        proc = subprocess.Popen([sys.executable, "-c", KILL_SAVER, str(path), "1"], stdout=subprocess.PIPE)
        try:
            assert proc.stdout.readline().strip() == b"ready"
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                pass
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
        loaded = lstmcore.LSTM.load(path)  # whole: the old model or the new one, never torn
        assert any(same_weights(loaded, c) for c in candidates)


def test_concurrent_saves_leave_one_complete_file(tmp_path):
    path = tmp_path / "m.npz"
    nets = [lstmcore.LSTM(8, 32, seed=s) for s in range(4)]
    errors = []

    def saver(net):
        try:
            for _ in range(10):
                net.save(path)
                lstmcore.LSTM.load(path)  # whatever is there is always whole
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=saver, args=(n,)) for n in nets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    loaded = lstmcore.LSTM.load(path)
    assert sum(same_weights(loaded, n) for n in nets) == 1
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


CONCURRENT_SAVER = r"""
import sys, lstmcore
net = lstmcore.LSTM(8, 32, seed=int(sys.argv[2]))
for _ in range(20):
    net.save(sys.argv[1])
    lstmcore.LSTM.load(sys.argv[1])
"""


def test_concurrent_saves_from_processes_leave_one_complete_file(tmp_path):
    path = tmp_path / "m.npz"
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT_SAVER, str(path), str(seed)],
                              stderr=subprocess.PIPE) for seed in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()  # every save reported success, every load worked
    loaded = lstmcore.LSTM.load(path)
    assert sum(same_weights(loaded, lstmcore.LSTM(8, 32, seed=s)) for s in range(3)) == 1
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_save_refuses_fifos_and_keeps_symbolic_links(tmp_path):
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is not a regular file"):
        lstmcore.LSTM(2, 3).save(fifo)  # never replaced by a plain file
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    target, link = tmp_path / "target.npz", tmp_path / "link.npz"
    lstmcore.LSTM(2, 3, seed=0).save(target)
    link.symlink_to(target)
    layer = lstmcore.LSTM(2, 3, seed=1)
    layer.save(link)
    assert link.is_symlink()
    assert same_weights(lstmcore.LSTM.load(target), layer)


# ---- save and load agree ----------------------------------------------------------------------------

def test_non_finite_model_is_refused_at_save_and_the_old_file_kept(tmp_path):
    path = tmp_path / "m.npz"
    layer = lstmcore.LSTM(2, 3, seed=0)
    layer.save(path)
    before = path.read_bytes()
    layer.parameters()["weight_hh_l0"][0, 0] = np.inf  # e.g. a diverged training run
    with pytest.raises(ValueError, match="weight_hh_l0: holds NaN or Inf"):
        layer.save(path)
    assert path.read_bytes() == before
    # every model format writer goes through the same check
    with pytest.raises(ValueError, match="W_y: holds NaN or Inf"):
        _io.save_model(tmp_path / "n.npz", "LSTM1997", {}, {"W_y": np.array([1.0, np.nan])})
    assert not (tmp_path / "n.npz").exists()


# ---- FIFOs, devices, directories --------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("cls", [lstmcore.LSTM, lstmcore.LSTM1997])
def test_fifo_is_refused_without_blocking(cls, tmp_path):
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    # Should the loader ever open the FIFO, a writer that comes and goes after a while unblocks it
    # (the test then fails on the message instead of hanging).
    done = threading.Event()

    def unblock():
        if not done.wait(10):
            with open(fifo, "wb"):
                pass

    t = threading.Thread(target=unblock, daemon=True)
    t.start()
    try:
        with pytest.raises(ValueError, match="is a FIFO, expected a regular file"):
            cls.load(fifo)
    finally:
        done.set()
        t.join()


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_devices_and_directories_are_refused(device, tmp_path):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    with pytest.raises(ValueError, match="is a device, expected a regular file"):
        lstmcore.LSTM.load(device)
    with pytest.raises(ValueError, match="is a directory, expected a regular file"):
        lstmcore.LSTM1997.load(tmp_path)


# ---- archives checked before their data is read ----------------------------------------------------

def members_of(path):
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info.filename) for info in zf.infolist()}


def write_members(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def npy_bytes(array):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array)
    return buf.getvalue()


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "m.npz"
    lstmcore.LSTM(2, 3, seed=0).save(path)
    return path


def peak_bytes_of(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_compressed_bomb_is_refused_before_inflating(saved, tmp_path):
    members = members_of(saved)
    # 256 MiB of zeros deflate to about 256 KiB: a small file that would inflate to a large array
    big = np.zeros(2**25, np.float64)
    members["weight_ih_l0.npy"] = npy_bytes(big)
    del big
    bomb = tmp_path / "bomb.npz"
    write_members(bomb, members, zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 2**21

    def load():
        with pytest.raises(ValueError, match="compressed"):
            lstmcore.LSTM.load(bomb)

    assert peak_bytes_of(load) < 2**23


def test_declared_shape_is_checked_against_the_configuration_before_reading(saved, tmp_path):
    members = members_of(saved)
    members["weight_ih_l0.npy"] = npy_bytes(np.zeros((4096, 512), np.float32))  # 8 MiB, (12, 2) expected
    bad = tmp_path / "shape.npz"
    write_members(bad, members)

    def load():
        with pytest.raises(ValueError, match=r"'weight_ih_l0' of shape \(4096, 512\), its configuration expects "
                                             r"\(12, 2\)"):
            lstmcore.LSTM.load(bad)

    assert peak_bytes_of(load) < 2**22  # the 8 MiB were never read


def test_names_and_sizes_are_checked_before_reading(saved, tmp_path):
    members = members_of(saved)
    members["extra.npy"] = npy_bytes(np.zeros(3))
    write_members(tmp_path / "extra.npz", members)
    with pytest.raises(ValueError, match=r"missing \[\], unexpected \['extra'\]"):
        lstmcore.LSTM.load(tmp_path / "extra.npz")
    members = members_of(saved)
    del members["bias_hh_l0.npy"]
    write_members(tmp_path / "missing.npz", members)
    with pytest.raises(ValueError, match=r"missing \['bias_hh_l0'\]"):
        lstmcore.LSTM.load(tmp_path / "missing.npz")
    # a header declaring more data than its member holds
    members = members_of(saved)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (12, 2)})
    members["weight_ih_l0.npy"] = header.getvalue() + b"\0" * 8
    write_members(tmp_path / "short.npz", members)
    with pytest.raises(ValueError, match="declares shape"):
        lstmcore.LSTM.load(tmp_path / "short.npz")


def test_metadata_is_bounded(saved, tmp_path):
    members = members_of(saved)
    members["__lstmcore_meta__.npy"] = npy_bytes(np.frombuffer(b" " * (2 << 20) + b"{}", np.uint8))
    write_members(tmp_path / "meta.npz", members)
    with pytest.raises(ValueError, match="metadata of"):
        lstmcore.LSTM.load(tmp_path / "meta.npz")


def test_checksum_is_still_verified_when_streaming(saved, tmp_path):
    members = members_of(saved)
    arr = np.lib.format.read_array(io.BytesIO(members["weight_hh_l0.npy"]))
    arr[0, 0] = np.nextafter(arr[0, 0], np.inf)
    members["weight_hh_l0.npy"] = npy_bytes(arr)
    write_members(tmp_path / "flip.npz", members)
    with pytest.raises(ValueError, match="checksum"):
        lstmcore.LSTM.load(tmp_path / "flip.npz")
    meta = json.loads(np.lib.format.read_array(io.BytesIO(members["__lstmcore_meta__.npy"])).tobytes())
    assert meta["format"] == _io.FORMAT
