"""The kMC clock: exponential waiting times at the total rate, galvanostatic event counts.

* In a configuration whose total rate R stays constant (one vacancy in bulk metal, no creep,
  no electrochemistry: every hop leaves R = z D / a^2 unchanged, checked after each event),
  the clock increments between successive events are Exponential(R): KS test and mean.
* In plate mode on a flat metal film the electrochemical channel is a Poisson process at
  echem_rate = j A / q (A = ncol a^2, q = F a^3 / V_m) whatever the thermal and creep channels
  do: the number of plating events in a window is Poisson(echem_rate t), and the intervals
  between plating events are Exponential(echem_rate).
"""
import math

import numpy as np
import pytest
from scipy import stats

from kmc import config as C
from kmc._engine import STOP_REASONS, Engine
from kmc.lattice import bit_generator
from kmc.phases import COLLECTOR, ELECTROLYTE, EMPTY, METAL
from kmc.rates import FARADAY, Units, engine_params
from kmc.schema import METALS

STOP = {v: k for k, v in STOP_REASONS.items()}
INF = math.inf


def make_cfg(**over):
    return C.with_overrides(over)


def test_waiting_times_exponential_at_total_rate():
    """20000 clock increments of the single-vacancy block are Exponential(1 / total rate):
    KS p > 0.01, mean within 2 %, second moment within 5 %."""
    cfg = make_cfg(**{"lattice.dimension": 3, "cell.stack_pressure_MPa": 0.0,
                      "nucleation.interfacial_diffusivity_um2_s": 0.0})
    units = Units(cfg)
    n, layers, zc = 16, 40, 1
    nz = zc + layers + 1
    st = np.full((nz, n, n), METAL, dtype=np.uint8)
    st[:zc] = COLLECTOR
    st[zc + layers:] = ELECTROLYTE
    st[zc + layers // 2, n // 2, n // 2] = EMPTY
    h = np.full(n * n, zc + layers, dtype=np.intc)
    params = engine_params(cfg, units, n * n)
    eng = Engine(n, n, nz, zc, 1, params, bit_generator(31))
    eng.load_lattice(st.reshape(-1), h)
    total = eng.totals[0]
    assert total == pytest.approx(6 * cfg["diffusion"]["self_diffusivity_cm2_s"]
                                  / units.a_cm ** 2, rel=1e-12)
    assert eng.totals[1:] == (0.0, 0.0, 0.0)            # no creep moves, no echem weight
    N = 20000
    times = np.empty(N + 1)
    times[0] = eng.t
    for i in range(N):
        if i % 25 == 0:
            # put the vacancy back in the middle (the clock is not reset): it never gets
            # near the collector or the separator, where the bond counts would differ
            eng.load_lattice(st.reshape(-1), h)
        assert eng.advance(1, INF, 0, INF) == STOP["events"]
        times[i + 1] = eng.t
        assert eng.totals[0] == pytest.approx(total, rel=1e-12)
    assert eng.n_events == N and eng.n_thermal == N
    dt = np.diff(times)
    assert np.all(dt > 0)
    ks = stats.kstest(dt, "expon", args=(0.0, 1.0 / total))
    assert ks.pvalue > 0.01, f"KS D = {ks.statistic:.4f}, p = {ks.pvalue:.3g}"
    assert dt.mean() == pytest.approx(1.0 / total, rel=0.02)
    # the second moment of an exponential is 2 / R^2 (a constant step would give 1 / R^2)
    assert (dt ** 2).mean() == pytest.approx(2.0 / total ** 2, rel=0.05)


def test_echem_rate_is_j_area_over_q():
    """engine_params' echem_rate = j [A/cm2] * ncol a^2 [cm2] / (F a^3 / V_m) [C] (1/s)."""
    for metal, j, a_um, ncol in [("Li", 10.0, 0.1, 256), ("Na", 0.25, 0.05, 1000),
                                 ("Li", 1.0, 0.2, 48)]:
        cfg = make_cfg(**{"cell.metal": metal, "protocol.current_density_mA_cm2": j,
                          "lattice.voxel_um": a_um})
        units = Units(cfg)
        a_cm = a_um * 1e-4
        q_C = FARADAY * a_cm ** 3 / METALS[metal]["molar_volume_cm3_mol"]
        assert units.q_C == pytest.approx(q_C, rel=1e-12)
        rate = engine_params(cfg, units, ncol)["echem_rate"]
        assert rate == pytest.approx(j * 1e-3 * ncol * a_cm ** 2 / q_C, rel=1e-12)


def test_galvanostatic_plating_is_poisson_at_j_area_over_q():
    """Plate onto a 16 x 16 metal film at 10 mA/cm2 and 15 MPa (thermal hops and creep
    running alongside): plating events in a time window ~ Poisson(echem_rate t), within 4
    sigma, and the intervals between them are Exponential(echem_rate)."""
    j = 10.0
    cfg = make_cfg(**{"protocol.current_density_mA_cm2": j, "cell.stack_pressure_MPa": 15.0})
    units = Units(cfg)
    n, zc, film = 16, 1, 4
    ncol = n * n
    nz = zc + film + 60
    params = engine_params(cfg, units, ncol)
    rate = params["echem_rate"]
    assert rate == pytest.approx(j * 1e-3 * ncol * units.a_cm ** 2 / units.q_C, rel=1e-12)
    st = np.full((nz, n, n), ELECTROLYTE, dtype=np.uint8)
    st[:zc] = COLLECTOR
    st[zc:zc + film] = METAL
    eng = Engine(n, n, nz, zc, 1, params, bit_generator(47))
    eng.load_lattice(st.reshape(-1), np.full(ncol, zc + film, dtype=np.intc))
    eng.set_mode("plate")
    T = 5000.0 / rate
    times = []
    n_echem = 0
    while True:
        reason = eng.advance(1, T, 10 ** 12, INF)
        if reason != STOP["events"]:
            break
        if eng.n_echem != n_echem:
            n_echem = eng.n_echem
            times.append(eng.t)
    assert reason == STOP["time"] and eng.t == T
    assert eng.n_plated == n_echem == len(times)
    # other channels were busy: this is not a pure plating run
    assert eng.n_thermal > n_echem and eng.n_creep > 0
    mean = rate * T
    assert abs(n_echem - mean) < 4 * math.sqrt(mean), f"{n_echem} plating events, expected {mean}"
    dt = np.diff([0.0] + times)
    ks = stats.kstest(dt, "expon", args=(0.0, 1.0 / rate))
    assert ks.pvalue > 0.01, f"KS D = {ks.statistic:.4f}, p = {ks.pvalue:.3g}"
    # counts in 50 sub-windows: Poisson dispersion (variance / mean ~ 1), chi-square test
    counts = np.histogram(times, bins=50, range=(0.0, T))[0]
    chi2 = ((counts - mean / 50) ** 2 / (mean / 50)).sum()
    assert stats.chi2.sf(chi2, 49) > 0.001, f"dispersion chi2 = {chi2:.1f} for 49 dof"
