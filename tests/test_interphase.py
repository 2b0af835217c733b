"""LPSC's thin interphase (interphase.kind = "thin", kmc/materials/li_lpsc.toml): Li touching
the electrolyte is consumed at velocity_um_h per unit contact area into the interphase
inventory line.

The rate law against the contact area the electrolyte saw over time (Poisson counts), and
the foundation's acceptance run: 3D Li on bare Cu at 0.25 mA/cm2, 1 mAh/cm2, 15 MPa strips
0 < CE < 1 with an exact inventory balance, because the interphase keeps what it consumed.
"""
import json
import math
from pathlib import Path

import numpy as np

from kmc import config as C
from kmc.lattice import build_engine
from kmc.phases import METAL
from kmc.runner import run_new

from test_integration import check_outputs

INF = float("inf")
REPO = Path(__file__).resolve().parents[1]


def contact_columns(eng):
    """Columns whose top site (under the separator) is METAL: where the electrolyte reacts."""
    st, h, ncol = eng.state_arr, eng.h_arr, eng.ncol
    top = (h.astype(np.int64) - 1) * ncol + np.arange(ncol)
    return int(np.count_nonzero(st[top] == METAL))


def test_thin_interphase_consumes_at_its_rate_per_contact_area():
    """A 1 um Li film under 3 MPa at rest, v = 2 um/h at 0.1 um voxels (20 voxels per column
    per hour of contact): the consumed count matches v / a times the contact column-seconds
    integrated over the rest (Poisson, 4 sigma), and the inventory holds exactly. Creep
    closes the gaps slowly at 3 MPa, so only ~2/3 of the columns touch on average: a rate
    that ignored contact would be 14 sigma off."""
    v_um_h = 2.0
    cfg = C.with_overrides({
        "run.seed": 5, "lattice.dimension": 2, "lattice.size_x_um": 12.8,
        "electrode.initial_metal_um": 1.0, "cell.stack_pressure_MPa": 3.0,
        "interphase.kind": "thin", "interphase.velocity_um_h": v_um_h})
    eng, units = build_engine(cfg)
    metal0 = eng.n_metal
    k = v_um_h / units.a_um / 3600.0                   # 1/s per contact column
    eng.set_mode("rest")
    dt, exposure = 2.0, 0.0
    for i in range(900):                                # 30 min
        before = contact_columns(eng)
        eng.advance(10 ** 9, (i + 1) * dt, 0, INF)
        exposure += 0.5 * (before + contact_columns(eng)) * dt
    expected = k * exposure
    assert 600 < expected < 0.8 * k * eng.ncol * 1800
    assert abs(eng.n_consumed - expected) < 4 * math.sqrt(expected), (eng.n_consumed, expected)
    assert eng.n_interphase == 0 and eng.n_consumed == eng.n_sei
    assert eng.n_metal + eng.n_dead + eng.n_consumed == metal0


def test_bare_cu_15_mpa_ce_below_one(tmp_path):
    """runs/paper001_cu.toml on a 3.2 x 3.2 um cell, one cycle: the strip recovers all the Li
    the interphase has not consumed, so 0 < CE < 1, the loss is the interphase line, and the
    inventory balances exactly; contact fraction and nucleus density are reported."""
    cfg = C.load_config(REPO / "runs" / "paper001_cu.toml", overrides=(
        "lattice.size_x_um=3.2", "lattice.size_y_um=3.2", "protocol.cycles=1"))
    out = tmp_path / "cu"
    assert run_new(cfg, out, progress=False) == 0
    summary = check_outputs(cfg, out)
    rec = summary["cycles"][0]
    assert 0.0 < rec["ce"] < 1.0
    inv = summary["inventory"]
    assert inv["interphase"] > 0
    assert inv["plated"] - inv["stripped"] == (inv["interphase"] + inv["dead"] + inv["active"]
                                               + inv["in_seed"] + inv["trapped"])
    assert rec["interphase_mAh_cm2"] > 0 and rec["nucleus_density_um2"] > 0
    assert 0.5 < rec["contact_fraction_end_of_strip"] <= 1.0
    print(json.dumps({k: rec[k] for k in ("ce", "interphase_mAh_cm2", "strip_end")}))
