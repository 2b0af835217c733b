"""Checkpoint / resume identity of kmc.runner and the ``kmc`` command line.

A run that is killed (SIGKILL after a checkpoint, or SIGTERM at any time) and resumed must
end with exactly the outputs of the same run left alone: summary.json equal except for the
wall-clock field "wall_s", timeseries.csv and every snapshot identical. Runs of the same
config and seed are identical; a run never overwrites an existing result folder without
--force.

The configuration is the quickstart (2D, 15 MPa) with --set overrides: 2 cycles of
0.2 mAh/cm2 at 1 mA/cm2, a checkpoint every wall-clock second, time snapshots every 300 s.
The repeatability test uses a 5 um box. The kill/resume tests need a run that lasts a few
seconds whatever the current rates make of the events per voxel, so the width of their box
is calibrated first (the box is widened until one run takes ~4 s on this machine); the
reference and the interrupted runs use the same width.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kmc.config import load_config
from kmc.runner import run_new

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "runs" / "quickstart.toml"
COMMON = ["protocol.cycles=2", "protocol.plate_capacity_mAh_cm2=0.2",
          "protocol.current_density_mA_cm2=1.0", "output.checkpoint_interval_wall_s=1.0",
          "output.snapshot_interval_s=300.0"]
SMALL = COMMON + ["lattice.size_x_um=5.0"]
TARGET_WALL_S = 4.0


def cli(*args, **kw):
    """Start ``python -m kmc ARGS`` in the repository root (a Popen)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "kmc", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def run_args(overrides, outdir):
    args = ["run", QUICKSTART, "-o", outdir, "--no-progress"]
    for o in overrides:
        args += ["--set", o]
    return args


def strip_wall(obj):
    """Copy of a JSON object without any "wall_s" entry (wall-clock time, not reproducible)."""
    if isinstance(obj, dict):
        return {k: strip_wall(v) for k, v in obj.items() if k != "wall_s"}
    if isinstance(obj, list):
        return [strip_wall(v) for v in obj]
    return obj


def load_snapshots(outdir):
    out = {}
    for p in sorted((Path(outdir) / "snapshots").glob("*.npz")):
        if p.name.startswith("."):
            continue
        with np.load(p) as z:
            out[p.name] = {k: z[k].copy() for k in z.files}
    return out


def assert_same_results(a, b):
    """Outputs of two finished runs are identical (up to wall-clock time)."""
    sa = json.loads((Path(a) / "summary.json").read_text())
    sb = json.loads((Path(b) / "summary.json").read_text())
    assert sa["complete"] and sb["complete"]
    assert strip_wall(sa) == strip_wall(sb)
    assert (Path(a) / "timeseries.csv").read_bytes() == (Path(b) / "timeseries.csv").read_bytes()
    assert (Path(a) / "config.toml").read_bytes() == (Path(b) / "config.toml").read_bytes()
    assert (Path(a) / "config.sha256").read_bytes() == (Path(b) / "config.sha256").read_bytes()
    na, nb = load_snapshots(a), load_snapshots(b)
    assert sorted(na) == sorted(nb) and len(na) >= 4
    for name in na:
        assert sorted(na[name]) == sorted(nb[name]), name
        for key in na[name]:
            assert np.array_equal(na[name][key], nb[name][key]), f"{name}: {key}"
    assert not (Path(a) / "checkpoint.npz").exists()
    assert not (Path(b) / "checkpoint.npz").exists()


def checkpoint_events(outdir):
    """Events done at the checkpoint in outdir (from its JSON metadata)."""
    with np.load(Path(outdir) / "checkpoint.npz") as z:
        meta = json.loads(bytes(z["meta"]).decode())
    return meta["counters"]["n_events"]


def wait_for(path, proc, timeout=120.0):
    """Wait until `path` exists while `proc` runs; fails if the process ends first."""
    t0 = time.monotonic()
    while not Path(path).exists():
        assert proc.poll() is None, ("the run ended before " + Path(path).name + " appeared: "
                                     + proc.communicate()[1])
        assert time.monotonic() - t0 < timeout
        time.sleep(0.02)


def drive_wall_s(overrides, out):
    """Run in-process; the protocol's wall-clock time (s) from summary.json."""
    assert run_new(load_config(QUICKSTART, overrides), out, progress=False) == 0
    return json.loads((Path(out) / "summary.json").read_text())["wall_s"]


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """Overrides of a run lasting ~TARGET_WALL_S: widen the box until a run takes > 0.8 s,
    then scale the width linearly (the work per column is the same)."""
    tmp = tmp_path_factory.mktemp("calibrate")
    size, k = 20.0, 0
    while True:
        wall = drive_wall_s(COMMON + [f"lattice.size_x_um={size}"], tmp / f"c{k}")
        k += 1
        if wall > 0.8 or size >= 5000.0:
            break
        size = min(5000.0, size * min(10.0, 1.5 / max(wall, 0.01)))
    size = float(min(5000.0, max(5.0, round(size * TARGET_WALL_S / wall))))
    return COMMON + [f"lattice.size_x_um={size}"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, big):
    """The big run, uninterrupted, in-process."""
    out = tmp_path_factory.mktemp("ref") / "A"
    wall = drive_wall_s(big, out)
    assert wall > 1.5, f"calibrated run too short ({wall:.2f} s) to interrupt"
    return out


def resume_to_reference(out, reference):
    """`out` holds an interrupted run (a checkpoint past its start, no complete summary):
    `kmc resume` must finish it with the reference outputs."""
    assert checkpoint_events(out) > 0                 # resumes mid-run, not from scratch
    summ = out / "summary.json"
    assert not summ.exists() or not json.loads(summ.read_text())["complete"]
    res = cli("resume", out, "--no-progress")
    stdout, stderr = res.communicate(timeout=300)
    assert res.returncode == 0, stderr
    assert_same_results(reference, out)


def test_sigkill_after_checkpoint_then_resume_is_identical(reference, big, tmp_path):
    """SIGKILL once a checkpoint exists, `kmc resume`: same outputs as the reference."""
    out = tmp_path / "B"
    proc = cli(*run_args(big, out))
    wait_for(out / "checkpoint.npz", proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    resume_to_reference(out, reference)


def test_sigterm_exits_130_with_checkpoint_then_resume_is_identical(reference, big, tmp_path):
    """SIGTERM shortly after the run has started (before the first periodic checkpoint):
    exit status 130, a checkpoint is written, `kmc resume` ends with the reference outputs."""
    out = tmp_path / "C"
    proc = cli(*run_args(big, out))
    wait_for(out / "config.toml", proc)       # written just before the protocol loop starts
    time.sleep(0.4)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stdout
    resume_to_reference(out, reference)
    # resuming a finished run changes nothing
    before = folder_state(out)
    res = cli("resume", out, "--no-progress")
    stdout, stderr = res.communicate(timeout=60)
    assert res.returncode == 0 and "already complete" in stdout
    assert folder_state(out) == before


def folder_state(folder):
    """{relative path: (bytes, mtime_ns)} of every file below folder."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_run_into_existing_folder_refused(reference, tmp_path):
    """`kmc run` into a folder that holds results, without --force: exit status 2, one line
    on stderr, nothing in the folder changed (names, contents, modification times)."""
    out = tmp_path / "A_copy"
    shutil.copytree(reference, out)
    before = folder_state(out)
    proc = cli(*run_args(SMALL, out))
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), stderr
    assert str(out) in lines[0] or out.name in lines[0]
    assert folder_state(out) == before
    assert sorted(os.listdir(out)) == sorted(os.listdir(reference))


def test_same_seed_same_results(tmp_path):
    """The small config run twice with the same seed: identical outputs; a different seed
    gives a different time series (so the comparison can tell runs apart)."""
    cfg = load_config(QUICKSTART, SMALL)
    assert run_new(cfg, tmp_path / "r1", progress=False) == 0
    assert run_new(cfg, tmp_path / "r2", progress=False) == 0
    assert_same_results(tmp_path / "r1", tmp_path / "r2")
    cfg3 = load_config(QUICKSTART, SMALL + ["run.seed=2"])
    assert run_new(cfg3, tmp_path / "r3", progress=False) == 0
    assert ((tmp_path / "r1" / "timeseries.csv").read_bytes()
            != (tmp_path / "r3" / "timeseries.csv").read_bytes())
