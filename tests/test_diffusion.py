"""Diffusion physics of the engine against the configured diffusivities.

* A single vacancy in bulk metal performs a random walk: each of its z = 2d metal neighbours
  has 2d - 1 solid neighbours and hops into it at k_bond[2d - 1] = D / a^2 (kmc/rates.py),
  so the vacancy's mean squared displacement is MSD(t) = 2 d D t with D the configured
  self-diffusivity (diffusion.self_diffusivity_cm2_s).
* A lone adatom on the bare collector hops to each of its 2 (2D) or 4 (3D) neighbouring
  columns at D_int / a^2, so its lateral MSD(t) = 2 d_lat D_int t with d_lat = 1 (2D), 2 (3D)
  and D_int = nucleation.interfacial_diffusivity_um2_s.

Every trajectory is followed event by event (engine.advance(1, t_stop, ...)); positions are
unwrapped across the periodic x/y edges; windows of fixed simulated duration T end with the
engine's time stop (the event that would pass T is not executed). The bond energy is left at
its non-zero default, so a hop rate read from a wrong coordination number would be off by
exp(E_b / kT) ~ 3.2 and fail the 5 % checks.
"""
import math

import numpy as np
import pytest

from kmc import config as C
from kmc._engine import STOP_REASONS, Engine
from kmc.lattice import bit_generator
from kmc.phases import COLLECTOR, ELECTROLYTE, EMPTY, METAL
from kmc.rates import Units, engine_params

TIME = {v: k for k, v in STOP_REASONS.items()}["time"]
INF = math.inf
TOL = 0.05


def make_cfg(dim, **over):
    """Default config in `dim` dimensions, no stack pressure (no creep), plus overrides."""
    return C.with_overrides({"lattice.dimension": dim, "cell.stack_pressure_MPa": 0.0, **over})


def unit_step(a, b, shape):
    """Displacement (dz, dy, dx) from site a to site b on a lattice periodic in x and y,
    taken as the nearest periodic image."""
    nz, ny, nx = shape
    za, ya, xa = np.unravel_index(a, shape)
    zb, yb, xb = np.unravel_index(b, shape)
    dx = (int(xb) - int(xa) + nx // 2) % nx - nx // 2
    dy = (int(yb) - int(ya) + ny // 2) % ny - ny // 2
    return int(zb) - int(za), dy, dx


# ---------------------------------------------------------------------- vacancy diffusion

def vacancy_block(dim, n, layers):
    """n (x) by n (y, 3D only) by `layers` (z) block of METAL on a one-layer collector,
    separator pressed on its top, one EMPTY site in the middle.
    Returns (shape, state, h, vacancy site)."""
    nx, ny, zc = n, (n if dim == 3 else 1), 1
    nz = zc + layers + 1
    st = np.full((nz, ny, nx), METAL, dtype=np.uint8)
    st[:zc] = COLLECTOR
    st[zc + layers:] = ELECTROLYTE
    h = np.full(nx * ny, zc + layers, dtype=np.intc)
    centre = (zc + layers // 2, ny // 2, nx // 2)
    st[centre] = EMPTY
    return (nz, ny, nx), st.reshape(-1), h, int(np.ravel_multi_index(centre, (nz, ny, nx)))


def vacancy_msd(dim, n, layers, windows, hops_per_window, seed):
    """Mean squared displacement (um^2) of the vacancy after T (s), from `windows`
    independent windows that each start with the vacancy back in the middle of the block.
    Returns (msd_um2, T_s, per-window squared displacements, cfg)."""
    # (no interphase: it would eat the block's top, the walk needs exactly one vacancy)
    cfg = make_cfg(dim, **{"nucleation.interfacial_diffusivity_um2_s": 0.0,
                           "interphase.kind": "none"})
    units = Units(cfg)
    shape, state, h, v0 = vacancy_block(dim, n, layers)
    nz, ny, nx = shape
    params = engine_params(cfg, units, nx * ny)
    eng = Engine(nx, ny, nz, 1, 1, params, bit_generator(seed))
    k_bulk = params["k_bond"][2 * dim - 1]
    total = 2 * dim * k_bulk                     # vacancy hop rate: z neighbours at D/a^2
    T = hops_per_window / total
    st = eng.state_arr
    r2 = np.empty(windows)
    max_dz = 0
    for w in range(windows):
        eng.load_lattice(state, h)
        assert eng.totals[0] == pytest.approx(total, rel=1e-12)
        t_end = eng.t + T
        pos, disp = v0, np.zeros(3, dtype=np.int64)
        while True:
            if eng.advance(1, t_end, 0, INF) == TIME:
                break
            new = int(np.argmin(st))                 # EMPTY (0) is the only zero phase
            assert st[new] == EMPTY and np.count_nonzero(st == EMPTY) == 1
            step = unit_step(pos, new, shape)
            assert sum(abs(s) for s in step) == 1, f"vacancy jumped {step}"
            disp += step
            pos = new
            # still in the bulk: the total rate is the bulk vacancy hop rate
            assert eng.totals[0] == pytest.approx(total, rel=1e-12), "vacancy left the bulk"
        max_dz = max(max_dz, abs(int(disp[0])))
        r2[w] = float(disp @ disp)
        assert eng.n_metal == nx * ny * layers - 1 and eng.n_dead == 0
    assert max_dz < layers // 2 - 1
    a2 = units.a_um ** 2
    return r2.mean() * a2, T, r2 * a2, cfg


@pytest.mark.parametrize("dim, n, layers, windows", [(3, 24, 36, 6000), (2, 24, 40, 8000)])
def test_vacancy_msd_matches_self_diffusivity(dim, n, layers, windows):
    """MSD / (2 d t) of a lone vacancy in bulk metal = configured D (um^2/s) within 5 %.
    The block is tall enough that the vacancy never comes near the collector or the
    separator (checked: the total rate stays the bulk value z D / a^2 after every hop)."""
    msd, T, r2, cfg = vacancy_msd(dim, n, layers, windows, hops_per_window=20,
                                  seed=100 + dim)
    D_cm2 = cfg["diffusion"]["self_diffusivity_cm2_s"]
    a_cm = Units(cfg).a_cm
    D_um2 = D_cm2 / a_cm ** 2 * Units(cfg).a_um ** 2       # = D_cm2 * 1e8
    assert D_um2 == pytest.approx(D_cm2 * 1e8, rel=1e-12)
    D_meas = msd / (2 * dim * T)
    sem = r2.std(ddof=1) / math.sqrt(len(r2)) / (2 * dim * T)
    assert sem < TOL * D_um2 / 3, "too few windows for a 5 % test"
    assert D_meas == pytest.approx(D_um2, rel=TOL), (
        f"{dim}D vacancy: MSD/(2dt) = {D_meas:.5g} um2/s (+- {sem:.2g}), D = {D_um2:.5g}")


# ---------------------------------------------------------------------- adatom diffusion

@pytest.mark.parametrize("dim, windows", [(3, 6000), (2, 10000)])
def test_adatom_lateral_msd_matches_interfacial_diffusivity(dim, windows):
    """A lone adatom on the bare, flat collector: lateral MSD = 2 d_lat D_int t within 5 %."""
    D_int = 2.5                                                   # um^2/s
    cfg = make_cfg(dim, **{"nucleation.interfacial_diffusivity_um2_s": D_int,
                           "nucleation.critical_size": 1})
    units = Units(cfg)
    nx, ny, zc, nz = 16, (16 if dim == 3 else 1), 1, 4
    params = engine_params(cfg, units, nx * ny)
    st = np.full((nz, ny, nx), ELECTROLYTE, dtype=np.uint8)
    st[:zc] = COLLECTOR
    h = np.full((ny, nx), zc, dtype=np.intc)
    st[zc, ny // 2, nx // 2] = METAL
    h[ny // 2, nx // 2] = zc + 1
    eng = Engine(nx, ny, nz, zc, 1, params, bit_generator(200 + dim))
    eng.load_lattice(st.reshape(-1), h.reshape(-1))
    eng.set_mode("rest")
    d_lat = dim - 1
    k_ad = params["k_adatom"]
    assert k_ad == pytest.approx(D_int / units.a_um ** 2)
    total = 2 * d_lat * k_ad
    assert eng.totals[0] == pytest.approx(total, rel=1e-12)
    T = 20 / total
    hv = eng.h_arr
    layer = eng.state_arr.reshape(nz, nx * ny)[zc]
    col = int(np.argmax(hv))
    r2 = np.empty(windows)
    for w in range(windows):
        t_end = eng.t + T
        disp = np.zeros(2, dtype=np.int64)
        while eng.advance(1, t_end, 0, INF) != TIME:
            new = int(np.argmax(hv))
            assert hv[new] == zc + 1 and np.count_nonzero(hv != zc) == 1
            assert layer[new] == METAL and np.count_nonzero(layer == METAL) == 1
            _, dy, dx = unit_step(col, new, (1, ny, nx))
            assert abs(dx) + abs(dy) == 1
            disp += (dy, dx)
            col = new
            assert eng.totals[0] == pytest.approx(total, rel=1e-12)
        r2[w] = float(disp @ disp)
    assert eng.n_metal == 1 and eng.n_creep == 0 and eng.n_echem == 0
    r2 *= units.a_um ** 2
    D_meas = r2.mean() / (2 * d_lat * T)
    sem = r2.std(ddof=1) / math.sqrt(windows) / (2 * d_lat * T)
    assert sem < TOL * D_int / 3
    assert D_meas == pytest.approx(D_int, rel=TOL), (
        f"{dim}D adatom: MSD/(2 d_lat t) = {D_meas:.5g} um2/s (+- {sem:.2g}), D_int = {D_int}")
