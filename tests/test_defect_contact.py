"""analysis/defect_contact.py: the interfacial defect (Na domain or void) is placed where
intended, stripping with it conserves metal and soft phase, and the CLI writes its figure."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.defect_contact import (build_defect_engine, contact_after, defect_box,
                                     strip_for)
from kmc import observables as obs
from kmc.phases import COLLECTOR, ELECTROLYTE, EMPTY, METAL, SOFT

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"size_um": 5.0, "voxel_um": 0.1, "thick_um": 2.0}     # 50 columns, 20 layers


@pytest.mark.parametrize("defect, width_frac", [("soft", 0.2), ("void", 0.2),
                                                ("soft", 0.23), ("void", 0.23)])
def test_defect_is_placed_under_the_separator(defect, width_frac):
    e, units, (x0, w, d) = build_defect_engine(defect, 1.0, 1, width_frac=width_frac, **SMALL)
    nx, layers = e.nx, 20
    assert e.ny == 1 and nx == 50
    assert w == round(width_frac * nx) and d == max(1, round(w / 2)) and x0 == (nx - w) // 2
    st = obs.lattice_view(e)[:, 0, :]
    top = e.zc + layers
    assert (e.h_arr == top).all(), "the separator does not move when the defect is loaded"
    code = SOFT if defect == "soft" else EMPTY
    expect = np.full((layers, nx), METAL, dtype=np.uint8)
    expect[layers - d:, x0:x0 + w] = code
    assert (st[e.zc:top] == expect).all()
    assert (st[:e.zc] == COLLECTOR).all() and (st[top:] == ELECTROLYTE).all()
    assert int(np.count_nonzero(st == code)) == w * d
    assert int(np.count_nonzero(st == (EMPTY if defect == "soft" else SOFT))) == 0
    assert e.n_metal == nx * layers - w * d
    c = obs.contact(e)
    assert abs(c["contact_active"] - (1.0 - width_frac)) <= 1.0 / nx
    if defect == "soft":
        assert c["contact_soft"] == w / nx and c["contact_fraction"] == 1.0
    else:
        assert c["void_fraction_interface"] == w / nx and c["contact_fraction"] == 1 - w / nx


def test_no_defect_and_bad_defects():
    e, _, _ = build_defect_engine("none", 1.0, 1, **SMALL)
    assert obs.contact(e)["contact_active"] == 1.0
    assert not np.isin(e.state_arr, (SOFT, EMPTY)).any()
    with pytest.raises(ValueError):
        build_defect_engine("crack", 1.0, 1, **SMALL)
    with pytest.raises(ValueError):
        defect_box(50, 20, 1.0)
    with pytest.raises(ValueError):
        defect_box(50, 10, 0.4)           # 20 columns wide -> 10 layers deep: no metal left


@pytest.mark.parametrize("defect", ["soft", "void", "none"])
def test_strip_conserves_inventory(defect):
    j, t_s = 2.0, 40.0
    e, units, (x0, w, d) = build_defect_engine(defect, j, 2, **SMALL)
    n0 = e.n_metal
    soft0 = int(np.count_nonzero(e.state_arr == SOFT))
    strip_for(e, t_s)
    assert e.t >= t_s
    assert obs.check_inventory(e, n0) is None
    assert obs.check_inventory(e, n0 + 1) is not None
    assert int(np.count_nonzero(e.state_arr == SOFT)) == soft0
    # galvanostatic: j t of charge (mAh/cm2) leaves, give or take the kMC noise
    expected = j * t_s / 3600.0 / units.mAh_cm2_per_layer * e.ncol
    assert e.n_stripped > 0 and abs(e.n_stripped - expected) < 0.3 * expected


def test_contact_after_returns_fractions():
    c = contact_after("soft", 1.0, 3, t_s=30.0, **SMALL)
    for key in ("contact_active", "contact_soft", "contact_fraction"):
        assert 0.0 <= c[key] <= 1.0
    assert c["contact_fraction"] >= c["contact_active"] + c["contact_soft"] - 1e-12
    assert c["contact_soft"] > 0 and c["stripped_um"] > 0


def test_cli_writes_figure(tmp_path):
    out = tmp_path / "fig"
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "analysis/defect_contact.py", "-o", str(out),
                           "--seeds", "1", "--currents", "1.0", "--size-um", "5"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if not ln.startswith("#")]
    pat = r"(soft|void|none)\s+j 1\.00 mA/cm2: Li contact (\d\.\d{3}) \((\d\.\d\d)-(\d\.\d\d)\)"
    found = {m.group(1) for m in (re.match(pat, ln) for ln in lines) if m}
    assert found == {"soft", "void", "none"}, proc.stdout
    for suffix in (".png", ".pdf"):
        path = out / f"defect_contact{suffix}"
        assert path.stat().st_size > 1000
    assert (out / "defect_contact.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
