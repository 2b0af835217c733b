"""analysis/: load a tiny finished run and draw its overview figure."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:          # analysis/ is not installed; import it from the checkout
    sys.path.insert(0, str(REPO))
from analysis.load import PHASES, load_run, load_snapshot  # noqa: E402
TINY = ("lattice.size_x_um=5.0", "protocol.cycles=2", "protocol.plate_capacity_mAh_cm2=0.2",
        "protocol.current_density_mA_cm2=1.0")


def _run(args):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("analysis") / "tiny"
    sets = [a for kv in TINY for a in ("--set", kv)]
    _run(["-m", "kmc", "run", REPO / "runs" / "quickstart.toml", "-o", out, "--no-progress",
          *sets])
    return out


def test_load_run_consistent(tiny_run):
    run = load_run(tiny_run)
    ts = run["timeseries"]
    n = len(ts["t_s"])
    assert n > 2 and all(len(col) == n for col in ts.values())
    assert set(ts["half"]) <= {"plate", "strip"} and ts["half"].dtype.kind == "U"
    assert np.all(np.diff(ts["t_s"]) >= 0)
    assert not np.isnan(ts["voltage_V"]).any()         # inf allowed (no contact), nan not
    assert run["summary"]["complete"] and len(run["summary"]["cycles"]) == 2
    assert run["config"]["protocol"]["cycles"] == 2
    assert [p.name for p in run["snapshots"]] == sorted(p.name for p in run["snapshots"])
    assert len(run["snapshots"]) == 4                    # plate_end and strip_end per cycle
    L = run["summary"]["lattice"]
    snap = load_snapshot(run["snapshots"][0])
    assert snap["state"].shape == (L["nz"], L["ny"], L["nx"]) and snap["state"].dtype == np.uint8
    assert snap["h"].shape == (L["ny"], L["nx"]) and snap["half"] == "plate"
    assert snap["voxel_um"] == pytest.approx(L["voxel_um"])


def test_phase_codes_match_engine():
    from kmc.phases import PHASES as ENGINE_PHASES
    assert dict(ENGINE_PHASES) == PHASES


def test_plot_run_writes_png_and_pdf(tiny_run):
    proc = _run([REPO / "analysis" / "plot_run.py", tiny_run])
    png = tiny_run / "run.png"
    assert proc.stdout.strip() == str(png)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert 20_000 < len(data) < 5_000_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert 1000 <= width <= 3000 and 1000 <= height <= 4000
    assert (tiny_run / "run.pdf").read_bytes()[:5] == b"%PDF-"
    assert not [p for p in tiny_run.iterdir() if p.name.startswith(".")]   # no temp files left
