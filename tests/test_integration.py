"""End-to-end runs through kmc.runner (2D and 3D, tiny boxes): the output contract.

summary.json (per-cycle records, inventory, provenance), the exact inventory balance,
timeseries.csv columns, loadable snapshots consistent with the inventory, config.toml and
config.sha256 matching kmc.config.config_hash, and the pressure ordering of paper 004: a
0 MPa run strips no more than a 15 MPa run from the same seed.
"""
import csv
import hashlib
import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from kmc import __version__
from kmc import config as C
from kmc.phases import COLLECTOR, DEAD, ELECTROLYTE, METAL
from kmc.rates import Units
from kmc.runner import run_new

CYCLE_KEYS = ("cycle", "plated_mAh_cm2", "stripped_mAh_cm2", "ce",
              "contact_fraction_end_of_strip", "dead_mAh_cm2", "nucleus_density_um2",
              "thickness_mean_um", "thickness_std_um")
INVENTORY_KEYS = ("initial", "plated", "stripped", "dead", "interphase", "trapped", "in_seed", "active")
TOP_KEYS = ("seed", "config_hash", "version", "events", "wall_s", "cycles", "inventory",
            "complete")
ROW_FIELDS = ("t_s", "cycle", "half", "charge_mAh_cm2", "half_charge_mAh_cm2", "voltage_V",
              "contact_fraction", "contact_active", "contact_collector", "contact_seed",
              "contact_soft", "contact_dead", "void_fraction_interface", "dead_mAh_cm2",
              "in_seed_mAh_cm2", "stripped_depth_um", "events")


def make_cfg(dim, pressure=15.0, seed=7, **over):
    base = {"run.seed": seed, "lattice.dimension": dim, "cell.stack_pressure_MPa": pressure,
            "lattice.size_x_um": 4.0 if dim == 2 else 1.6, "lattice.size_y_um": 1.6,
            "protocol.cycles": 2, "protocol.plate_capacity_mAh_cm2": 0.1,
            "protocol.current_density_mA_cm2": 1.0, "output.timeseries_interval_s": 30.0}
    base.update(over)
    return C.with_overrides(base)


def check_outputs(cfg, out):
    """Every part of the output contract of a finished run in `out`; returns the summary."""
    out = Path(out)
    summary = json.loads((out / "summary.json").read_text())
    for key in TOP_KEYS:
        assert key in summary, key
    assert summary["complete"] is True
    assert summary["seed"] == cfg["run"]["seed"]
    assert summary["version"] == __version__
    assert isinstance(summary["events"], int) and summary["events"] > 0
    assert isinstance(summary["wall_s"], float) and summary["wall_s"] > 0
    # config and its hash
    text = (out / "config.toml").read_text()
    resolved = C.validate(tomllib.loads(text))
    assert resolved == cfg
    h = (out / "config.sha256").read_text().strip()
    assert h == C.config_hash(cfg) == C.config_hash(resolved) == summary["config_hash"]
    assert h == hashlib.sha256(text.encode()).hexdigest()
    # inventory
    inv = summary["inventory"]
    assert set(INVENTORY_KEYS) <= set(inv)
    assert all(isinstance(inv[k], int) and inv[k] >= 0 for k in INVENTORY_KEYS)
    assert inv["initial"] + inv["plated"] == sum(
        inv[k] for k in INVENTORY_KEYS if k not in ("plated", "initial"))
    # cycles
    cycles = summary["cycles"]
    assert [c["cycle"] for c in cycles] == list(range(1, cfg["protocol"]["cycles"] + 1))
    assert cycles[0]["plated_mAh_cm2"] > 0
    units = Units(cfg)
    ncol = summary["lattice"]["nx"] * summary["lattice"]["ny"]
    for rec in cycles:
        for key in CYCLE_KEYS:
            assert key in rec, key
            if key == "ce" and rec["plated_mAh_cm2"] == 0:
                continue
            assert isinstance(rec[key], (int, float)) and math.isfinite(rec[key]), key
        assert 0.0 <= rec["stripped_mAh_cm2"] <= rec["plated_mAh_cm2"] + 1e-12
        if rec["plated_mAh_cm2"] > 0:
            assert 0.0 <= rec["ce"] <= 1.0
            assert rec["ce"] == pytest.approx(rec["stripped_mAh_cm2"] / rec["plated_mAh_cm2"])
        else:                       # no contact left to plate on (0 MPa): CE is undefined
            assert rec["ce"] is None and rec["plate_end"] == "voltage_cutoff"
        assert 0.0 <= rec["contact_fraction_end_of_strip"] <= 1.0
        # a strip that recovered everything strippable says so, whatever stopped it
        if rec["ce"] == 1.0 and rec["in_seed_mAh_cm2"] == 0:
            assert rec["strip_end"] == "exhausted", rec["strip_end"]
        assert rec["strip_end"] in ("exhausted", "voltage_cutoff", "time_cap")
        assert rec["dead_mAh_cm2"] >= 0 and rec["thickness_std_um"] >= 0
        assert rec["thickness_mean_um"] >= 0 and rec["nucleus_density_um2"] >= 0
    assert sum(c["plated_mAh_cm2"] for c in cycles) == pytest.approx(
        units.voxels_to_mAh_cm2(inv["plated"], ncol))
    assert sum(c["stripped_mAh_cm2"] for c in cycles) == pytest.approx(
        units.voxels_to_mAh_cm2(inv["stripped"], ncol))
    assert cycles[-1]["dead_mAh_cm2"] == pytest.approx(units.voxels_to_mAh_cm2(inv["dead"], ncol))
    # time series
    with open(out / "timeseries.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == ROW_FIELDS
        rows = list(reader)
    assert len(rows) >= 4
    t = np.array([float(r["t_s"]) for r in rows])
    assert t[0] == 0.0 and np.all(np.diff(t) >= 0)
    assert {r["half"] for r in rows} == {"plate", "strip"}
    for r in rows:
        assert 0.0 <= float(r["contact_fraction"]) <= 1.0
        assert int(r["events"]) >= 0
    assert int(rows[-1]["events"]) == summary["events"]
    # snapshots: loadable, shaped like the lattice, consistent with the inventory at the end
    snaps = sorted((out / "snapshots").glob("*.npz"))
    names = {p.name for p in snaps}
    for c in range(1, cfg["protocol"]["cycles"] + 1):
        assert f"cycle{c:04d}_plate_end.npz" in names and f"cycle{c:04d}_strip_end.npz" in names
    lat = summary["lattice"]
    for p in snaps:
        with np.load(p) as z:
            st, hh = z["state"], z["h"]
            assert st.shape == (lat["nz"], lat["ny"], lat["nx"]) and st.dtype == np.uint8
            assert hh.shape == (lat["ny"], lat["nx"])
            assert float(z["voxel_um"]) == cfg["lattice"]["voxel_um"]
            zc = int(z["collector_layers"])
            assert np.all(st[:zc] == COLLECTOR)
            zz = np.arange(lat["nz"])[:, None, None]
            assert np.all((st == ELECTROLYTE) == (zz >= hh[None]))
            assert float(z["t_s"]) >= 0 and str(z["half"]) in ("plate", "strip")
    last = f"cycle{cfg['protocol']['cycles']:04d}_strip_end.npz"
    with np.load(out / "snapshots" / last) as z:
        assert int(np.count_nonzero(z["state"] == METAL)) == inv["active"]
        assert int(np.count_nonzero(z["state"] == DEAD)) == inv["dead"]
    assert not (out / "checkpoint.npz").exists()
    return summary


@pytest.mark.parametrize("dim", [2, 3])
def test_run_outputs(dim, tmp_path):
    cfg = make_cfg(dim)
    assert run_new(cfg, tmp_path / "run", progress=False) == 0
    summary = check_outputs(cfg, tmp_path / "run")
    assert summary["lattice"]["ny"] == (1 if dim == 2 else 16)


def test_zero_pressure_strips_no_more_than_15_mpa(tmp_path):
    """3D, same seed, 0 MPa vs 15 MPa: the 0 MPa run strips less (or equal) in every cycle
    and in total (paper 004's ordering: without stack pressure the metal loses contact)."""
    res = {}
    for p in (15.0, 0.0):
        cfg = make_cfg(3, pressure=p, seed=11)
        out = tmp_path / f"p{p:g}"
        assert run_new(cfg, out, progress=False) == 0
        res[p] = check_outputs(cfg, out)
    hi, lo = res[15.0], res[0.0]
    for a, b in zip(lo["cycles"], hi["cycles"]):
        assert a["stripped_mAh_cm2"] <= b["stripped_mAh_cm2"]
    assert lo["inventory"]["stripped"] <= hi["inventory"]["stripped"]
    print({p: [(round(c["plated_mAh_cm2"], 4), round(c["stripped_mAh_cm2"], 4), c["strip_end"])
               for c in r["cycles"]] for p, r in res.items()})
