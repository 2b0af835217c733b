"""analysis/paper004.py on small synthetic run folders (2 Na contents x 2 pressures x 2 seeds)."""
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:          # analysis/ is not installed; import it from the checkout
    sys.path.insert(0, str(REPO))
from analysis import paper004  # noqa: E402
from analysis.load import PHASES  # noqa: E402

NAS, PRESSURES, SEEDS = (0.0, 10.0), (0.0, 0.8), (1, 2)
COLUMNS = ("t_s", "cycle", "half", "half_charge_mAh_cm2", "voltage_V", "contact_fraction",
           "contact_active", "contact_soft", "stripped_depth_um", "events")


def capacity(na, p, seed):
    """Synthetic first-strip capacity (mAh/cm2) of a condition and seed."""
    return 0.5 + 0.2 * na + 3.0 * p + 0.1 * seed


def snapshot(path, metal_top, cycle, half, na):
    """A 2D snapshot: collector layer z = 0, Li up to metal_top, separator above; Na (SOFT)
    in a few columns (and, when na > 0, a layer at the top of the metal)."""
    nz, nx = 12, 16
    state = np.full((nz, 1, nx), PHASES["ELECTROLYTE"], np.uint8)
    state[0] = PHASES["COLLECTOR"]
    state[1:metal_top] = PHASES["METAL"]
    if na > 0:
        state[2:metal_top, 0, 3:5] = PHASES["SOFT"]
        state[metal_top - 1, 0, 8:12] = PHASES["SOFT"]
    np.savez(path, state=state, h=np.full((1, nx), metal_top), t_s=3600.0 * cycle,
             cycle=cycle, half=half, voxel_um=0.5, collector_layers=1)


def write_run(folder, na, p, seed, complete=True, replate=False):
    """A run folder as kmc writes it (config.toml, summary.json, timeseries.csv, snapshots)."""
    (folder / "snapshots").mkdir(parents=True)
    electrode = f"[electrode]\nsoft_mol_percent = {na}\n" if na else ""   # 0: no table
    (folder / "config.toml").write_text(
        f"[run]\nseed = {seed}\n[lattice]\nvoxel_um = 0.5\n"
        f"[cell]\nstack_pressure_MPa = {p}\n[protocol]\ncurrent_density_mA_cm2 = 0.25\n"
        f"voltage_cutoff_V = 0.15\n{electrode}")
    cap = capacity(na, p, seed)
    cycles = [{"cycle": 1, "plated_mAh_cm2": 0.0, "stripped_mAh_cm2": cap,
               "strip_end": "voltage_cutoff", "soft_coverage_end_of_strip": na / 20,
               "contact_fraction_end_of_strip": 0.3}]
    if replate:
        cycles.append({"cycle": 2, "plated_mAh_cm2": 0.5, "stripped_mAh_cm2": 0.4,
                       "strip_end": "voltage_cutoff"})
    (folder / "summary.json").write_text(json.dumps({"complete": complete, "cycles": cycles}))
    n = 6
    f = np.linspace(0.0, 1.0, n)
    rows = [(60.0 * i, 1, "strip", cap * f[i], 0.01 + 0.13 * f[i] ** 3, 1 - 0.7 * f[i],
             1 - 0.7 * f[i] - na / 40 * f[i], na / 40 * f[i], 4.86 * cap * f[i], 100 * i)
            for i in range(n)]
    rows[-1] = rows[-1][:4] + (float("inf"),) + rows[-1][5:]     # no active contact left
    if replate:
        rows += [(400.0, 2, "plate", 0.5, -0.02, 1.0, 0.9, 0.1, 0.0, 700),
                 (460.0, 2, "strip", 0.4, 0.2, 0.5, 0.4, 0.1, 2.0, 800)]
    (folder / "timeseries.csv").write_text(
        ",".join(COLUMNS) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    snapshot(folder / "snapshots" / "cycle0001_plate_end.npz", 9, 1, "plate", na)
    snapshot(folder / "snapshots" / "cycle0001_strip_end.npz", 5, 1, "strip", na)
    if replate:
        snapshot(folder / "snapshots" / "cycle0002_plate_end.npz", 7, 2, "plate", na)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """RESULTS folder: Na 0 runs as na0/p*/seed*, Na 10 runs as an ensemble's replicas/<id>/,
    plus an unfinished run and a folder without config.toml, both to be ignored."""
    root = tmp_path_factory.mktemp("paper004")
    k = 0
    for na in NAS:
        for p in PRESSURES:
            for seed in SEEDS:
                if na == 0:
                    folder = root / f"na0/p{p}/seed{seed}"
                else:
                    folder = root / f"ens/replicas/r{k:03d}"
                    k += 1
                write_run(folder, na, p, seed, replate=(na > 0 and p == 0.8))
    write_run(root / "unfinished", 10.0, 0.8, 3, complete=False)
    (root / "stray").mkdir()
    (root / "stray" / "summary.json").write_text('{"complete": true, "cycles": []}')
    return root


def _cli(*args):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, str(REPO / "analysis" / "paper004.py"),
                           *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)


def test_collect_finds_complete_runs(results):
    recs = paper004.collect(results)
    assert len(recs) == 8
    assert sum("replicas" in r["folder"].parts for r in recs) == 4
    assert {(r["na_mol_percent"], r["pressure_MPa"], r["seed"]) for r in recs} == \
        {(na, p, s) for na in NAS for p in PRESSURES for s in SEEDS}
    for r in recs:
        assert r["stripped_mAh_cm2"] == pytest.approx(
            capacity(r["na_mol_percent"], r["pressure_MPa"], r["seed"]))
        assert r["strip_end"] == "voltage_cutoff"
        assert r["run"]["folder"] == r["folder"]


def test_capacity_table(results, capsys):
    rows = paper004.capacity_table(paper004.collect(results))
    assert [(r["na_mol_percent"], r["pressure_MPa"]) for r in rows] == \
        [(na, p) for na in NAS for p in PRESSURES]
    for r in rows:
        caps = [capacity(r["na_mol_percent"], r["pressure_MPa"], s) for s in SEEDS]
        assert r["n"] == 2
        assert r["mean"] == pytest.approx(np.mean(caps))
        assert (r["min"], r["max"]) == pytest.approx((min(caps), max(caps)))
        assert min(caps) <= r["ci_lo"] <= r["mean"] <= r["ci_hi"] <= max(caps)
    paper004.print_table(rows)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert lines[-1].startswith("Na 10.0 %  0.80 MPa  n=2  stripped 5.05 mAh/cm2 [5.0, 5.1]")


@pytest.mark.parametrize("available", [True, False])
def test_coverage_panel_geometric_curves(results, available, monkeypatch, capsys):
    """Dashed geometric curves come from analysis.simulated_stripping when it imports, and are
    skipped with a printed note when it does not."""
    import matplotlib.pyplot as plt
    calls = []

    def mask_from_snapshot(snap):
        calls.append(snap["name"])
        st = snap["state"]
        return st == PHASES["SOFT"], np.full(st.shape[1:], 8)

    def coverage_vs_depth(mask, voxel_um, top=None):
        d = np.arange(8) * voxel_um
        cov = np.array([mask[8 - i].mean() for i in range(8)])
        return {"depth_um": d, "stripped_mAh_cm2": d / 4.86, "na_coverage": cov,
                "li_coverage": 1 - cov}
    fake = types.SimpleNamespace(mask_from_snapshot=mask_from_snapshot,
                                 coverage_vs_depth=coverage_vs_depth)
    monkeypatch.setitem(sys.modules, "analysis.simulated_stripping", fake if available else None)
    firsts = paper004._first_per_na(paper004.collect(results), 0.8)
    fig, ax = plt.subplots()
    paper004.panel_coverage(ax, firsts, {na: "k" for na in NAS})
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--" and len(ln.get_xdata())]
    solid = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
    plt.close(fig)
    assert len(solid) == 1                             # the Na 10 % run; Na 0 is not drawn
    assert len(dashed) == (1 if available else 0)
    assert calls == (["cycle0001_plate_end"] if available else [])
    assert ("geometric coverage curves skipped" in capsys.readouterr().out) != available


def test_cli_writes_figure(results, tmp_path):
    out = tmp_path / "fig"
    proc = _cli(results, "-o", out, "--pressure", "0.8")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sum(ln.startswith("Na ") for ln in proc.stdout.splitlines()) == 4
    png = (out / "paper004.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    assert (out / "paper004.pdf").read_bytes()[:5] == b"%PDF-"


def test_cli_empty_folder_exits_2(tmp_path):
    proc = _cli(tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_acceleration_table_flags_shifted_points(tmp_path):
    """analysis/acceleration.py: an accelerated ensemble equal to the exact one passes every
    point; one whose capacity at a point is shifted far outside the seed spread fails it."""
    from analysis import acceleration

    def ensemble(root, shift):
        for na in NAS:
            for p in PRESSURES:
                for seed in (1, 2, 3):
                    folder = root / f"na{na}_p{p}_s{seed}"
                    write_run(folder, na, p, seed)
                    summ = json.loads((folder / "summary.json").read_text())
                    summ["cycles"][0]["stripped_mAh_cm2"] += shift if (na, p) == (10.0, 0.8) else 0
                    summ.update(stiffness_nonechem_per_echem=100.0 if shift else 1000.0,
                                wall_s=1.0 if shift else 5.0)
                    (folder / "summary.json").write_text(json.dumps(summ))
    ensemble(tmp_path / "exact", 0.0)
    ensemble(tmp_path / "same", 0.0)
    ensemble(tmp_path / "shifted", 5.0)
    same = acceleration.table(tmp_path / "exact", tmp_path / "same", 2.0)
    assert "Points passing: 4 of 4" in same and "FAIL" not in same
    shifted = acceleration.table(tmp_path / "exact", tmp_path / "shifted", 2.0)
    assert "Points passing: 3 of 4" in shifted and "5.0 x" in shifted
    row = [line for line in shifted.splitlines() if line.startswith("| 10 % Na, 0.8 MPa")][0]
    assert row.endswith("FAIL |") and "1,000 / 100" in row
