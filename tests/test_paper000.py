"""analysis/paper000.py on small synthetic results (7 conditions x 2 seeds, 1-3 cycles)."""
import os
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:          # analysis/ is not installed; import it from the checkout
    sys.path.insert(0, str(REPO))
from analysis import paper000  # noqa: E402
from analysis.load import PHASES  # noqa: E402

# condition -> (collector kind, porosity, materials, MPa, K, plated mAh/cm2, ICE fraction, cycles)
CONDS = {
    "al_pellet": ("pellet", 0.015, "na_nbh", 10.0, 298.15, 3.0, 0.93, 3),
    "al_foil": ("foil", 0.0, "na_nbh", 10.0, 298.15, 3.0, 0.64, 3),
    "cu_pellet": ("pellet", 0.21, "na_nbh", 10.0, 298.15, 3.0, 0.85, 3),
    "al_foil_nps": ("foil", 0.0, "na_nps", 10.0, 298.15, 3.0, 0.04, 3),
    "al_pellet_p5": ("pellet", 0.015, "na_nbh", 5.0, 298.15, 3.0, 0.80, 3),
    "al_pellet_q1": ("pellet", 0.015, "na_nbh", 10.0, 298.15, 1.0, 0.92, 3),
    "p003_nyzc": ("pellet", 0.015, "na_nyzc", 10.0, 298.15, 1.4, 0.50, 1),
}
SEEDS = (1, 2)
VOXEL_UM = 0.5


def ce(cond, seed, cycle):
    """Synthetic CE (fraction): the condition's ICE in cycle 1, 0.97 later; +-0.005 by seed."""
    return (CONDS[cond][6] if cycle == 1 else 0.97) + 0.01 * (seed - 1.5)


def snapshot(path, t_h, cycle, half, metal_top, interphase_layers):
    """2D snapshot (nz 12, ny 1, nx 16): collector z = 0, Na (METAL) in z = 1..metal_top - 1
    (at least columns 3-4 of z = 1), `interphase_layers` of INTERPHASE on top, electrolyte."""
    state = np.full((12, 1, 16), PHASES["ELECTROLYTE"], np.uint8)
    state[0] = PHASES["COLLECTOR"]
    state[1:metal_top] = PHASES["METAL"]
    state[1, 0, 3:5] = PHASES["METAL"]
    state[metal_top:metal_top + interphase_layers] = PHASES["INTERPHASE"]
    np.savez(path, state=state, h=np.full((1, 16), metal_top + interphase_layers),
             t_s=3600.0 * t_h,
             cycle=cycle, half=half, voxel_um=VOXEL_UM, collector_layers=1)


def write_run(folder, cond, seed, complete=True):
    """A run folder as kmc writes it; each cycle k: plate at 4(k-1) + 0, 1 h, strip at + 2, 3 h."""
    kind, phi, mat, p, temp, q, _, n = CONDS[cond]
    (folder / "snapshots").mkdir(parents=True)
    (folder / "config.toml").write_text(
        f"[run]\nseed = {seed}\n[cell]\nmaterials = \"{mat}\"\nstack_pressure_MPa = {p}\n"
        f"temperature_K = {temp}\n[collector]\nkind = \"{kind}\"\nporosity = {phi}\n"
        f"[protocol]\nplate_capacity_mAh_cm2 = {q}\ncycles = {n}\n")
    cycles, rows, plated = [], [], q
    for k in range(1, n + 1):
        stripped = plated * ce(cond, seed, k)
        cycles.append({"cycle": k, "plated_mAh_cm2": plated, "stripped_mAh_cm2": stripped,
                       "ce": ce(cond, seed, k), "trapped_mAh_cm2": phi * k,
                       "dead_mAh_cm2": 0.01, "interphase_mAh_cm2": 0.02 * k,
                       "interphase_thickness_um": 1.5 * k, "residual_active_mAh_cm2": 0.0,
                       "contact_fraction_end_of_strip": 0.1})
        t0 = 4.0 * (k - 1)
        rows += [(3600 * (t0 + dt), k, half, c, v, 1.0, 1.0)
                 for dt, half, c, v in ((0, "plate", 0.0, -0.05), (1, "plate", plated, -0.02),
                                        (2, "strip", 0.0, 0.05), (3, "strip", stripped, "inf"))]
        plated = stripped
    (folder / "summary.json").write_text(json.dumps({"complete": complete, "cycles": cycles}))
    (folder / "timeseries.csv").write_text(
        "t_s,cycle,half,half_charge_mAh_cm2,voltage_V,contact_fraction,contact_active\n"
        + "".join(",".join(map(str, r)) + "\n" for r in rows))
    snapshot(folder / "snapshots" / "cycle0001_plate_end.npz", 1, 1, "plate", 8, 2)
    snapshot(folder / "snapshots" / "cycle0001_strip_end.npz", 3, 1, "strip", 2, 3)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """RESULTS/<condition>/seedNN for CONDS, plus runs to be ignored: an unfinished seed of
    al_pellet, a condition with only an unfinished run, and a folder without run folders."""
    root = tmp_path_factory.mktemp("paper000")
    for cond in CONDS:
        for seed in SEEDS:
            write_run(root / cond / f"seed{seed:02d}", cond, seed)
    write_run(root / "al_pellet" / "seed03", "al_pellet", 3, complete=False)
    write_run(root / "al_pellet_p15" / "seed01", "al_pellet", 1, complete=False)
    (root / "notes").mkdir()
    return root


@pytest.fixture(scope="module")
def data(results):
    return paper000.collect(results)


def _cli(*args):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, str(REPO / "analysis" / "paper000.py"),
                           *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)


def test_collect_keeps_complete_runs(data):
    assert set(data) == set(CONDS)
    for cond, runs in data.items():
        assert [r["folder"].name for r in runs] == ["seed01", "seed02"]
        assert all(r["summary"]["complete"] for r in runs)


def test_ice(data):
    for cond, runs in data.items():
        s = paper000.ice(runs)
        assert s["n"] == 2
        assert s["values"] == pytest.approx([100 * ce(cond, 1, 1), 100 * ce(cond, 2, 1)])
        assert s["mean"] == pytest.approx(100 * CONDS[cond][6])
        assert s["values"].min() <= s["lo"] <= s["mean"] <= s["hi"] <= s["values"].max()


def test_retention_is_product_of_ces(data):
    r = paper000.retention(data["cu_pellet"])
    assert list(r["cycle"]) == [1, 2, 3]
    for i, seed in enumerate(SEEDS):
        expect = 100 * np.cumprod([ce("cu_pellet", seed, k) for k in (1, 2, 3)])
        assert r["values"][i] == pytest.approx(expect)
        # under the re-plating protocol this is also stripped in cycle N / first plating
        cyc = data["cu_pellet"][i]["summary"]["cycles"]
        assert r["values"][i][-1] == pytest.approx(100 * cyc[-1]["stripped_mAh_cm2"]
                                                   / cyc[0]["plated_mAh_cm2"])
    assert r["mean"] == pytest.approx(r["values"].mean(axis=0))
    assert np.all(r["lo"] <= r["mean"]) and np.all(r["mean"] <= r["hi"])


def test_retention_null_ce_and_unequal_lengths():
    """A cycle that plated nothing (ce null) retains nothing; runs are cut to the shortest."""
    runs = [{"summary": {"cycles": [{"ce": 0.5}, {"ce": None}, {"ce": 0.9}]}},
            {"summary": {"cycles": [{"ce": 0.8}, {"ce": 0.5}]}}]
    r = paper000.retention(runs)
    assert r["values"] == pytest.approx(np.array([[50.0, 0.0], [80.0, 40.0]]))
    assert paper000.ice(runs)["mean"] == pytest.approx(65.0)


def test_interphase_curve(data):
    """Snapshots (2 and 3 layers of 0.5 um at 1 h and 3 h) and the summary's thickness at the
    end of the strip (3 h, 1.5 um), from 0 at t = 0."""
    t_h, um = paper000.interphase_curve(data["p003_nyzc"][0])
    assert t_h == pytest.approx([0.0, 1.0, 3.0])
    assert um == pytest.approx([0.0, 1.0, 1.5])


def test_table(results, data):
    lines = paper000.table(results)
    assert lines == paper000.table(data)
    assert [ln.split()[0] for ln in lines] == [c for c in paper000.CONDITIONS if c in CONDS]
    al = lines[0]
    ret = 100 * np.mean([np.prod([ce("al_pellet", s, k) for k in (1, 2, 3)]) for s in SEEDS])
    assert al.startswith("al_pellet          n=2  ICE  93.0 % [92.5, 93.5]")
    assert f"retention after cycle 3 {ret:5.1f} %" in al
    assert "trapped(1) 0.015 mAh/cm2" in al and "interphase(1) 1.50 um" in al
    assert "retention after cycle 1" in lines[-1]


def test_missing_conditions_draw(data, tmp_path):
    """Only the interphase condition: every other panel says 'no data' instead of failing."""
    png = paper000.make_figure({"p003_nyzc": data["p003_nyzc"]}, tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_writes_figure(results, tmp_path):
    out = tmp_path / "fig"
    proc = _cli(results, "-o", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sum(ln.split()[0] in CONDS for ln in proc.stdout.splitlines()) == len(CONDS)
    png = (out / "paper000.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    assert (out / "paper000.pdf").read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize("sub", ["", "missing"])
def test_cli_no_runs_exits_2(tmp_path, sub):
    proc = _cli(tmp_path / sub)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    err = proc.stderr.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert not list(tmp_path.iterdir())
