"""advance() checks the voltage cutoff after every event without solving for the
overpotential when its cache is stale (Engine.over_cutoff): the decision must equal
|voltage()| > cutoff in every state, with one or several electrochemical classes populated."""
import numpy as np
import pytest

from kmc.config import with_overrides
from kmc.lattice import build_engine

INF = float("inf")


def states(seed_material, mode):
    """Engines after successive single events of plating from the bare collector (two
    classes: nucleation and growth) or of stripping a seeded deposit (metal and release)."""
    cfg = with_overrides({"lattice.dimension": 3, "lattice.voxel_um": 0.1,
                          "lattice.size_x_um": 1.6, "lattice.size_y_um": 1.6,
                          "seed.material": seed_material, "run.seed": 5})
    e, _ = build_engine(cfg)
    e.set_mode("plate")
    if mode == "strip":
        e.advance(10**8, INF, e.n_plated + e.ncol, INF)   # the seed fills, then some metal
        e.set_mode("strip")
    for _ in range(600):
        e.advance(1, INF, 2**62, INF)
        yield e


@pytest.mark.parametrize("seed_material, mode", [("none", "plate"), ("Au", "strip"),
                                                  ("Ag", "strip")])
def test_cutoff_decision_equals_the_solved_voltage(seed_material, mode):
    rng = np.random.default_rng(1)
    checked = several = 0
    for e in states(seed_material, mode):
        several += sum(1 for w in e.class_weights()[1:] if w > 0) > 1
        factors = rng.uniform(0.5, 1.5, size=3)
        # decide first (the eta cache is stale after most events), then solve
        decided = [e.exceeds_cutoff(f * 0.02) for f in factors] + [e.exceeds_cutoff(INF)]
        v = abs(e.voltage())
        assert decided == [v > f * 0.02 for f in factors] + [v > INF]
        near = [e.exceeds_cutoff(v * (1 - 1e-9)), e.exceeds_cutoff(v * (1 + 1e-9))]
        if np.isfinite(v) and v > 0:
            assert near == [True, False]
            checked += 1
    assert checked > 200 and several > 50       # several classes: the Newton solve path


@pytest.mark.parametrize("seed_material, mode", [("none", "plate"), ("Ag", "strip")])
def test_overpotential_solves_the_butler_volmer_balance(seed_material, mode):
    """The electrode overpotential balances the applied current over the populated classes,
    sum_k W_k g_k bv(eta - onset_k) = (j / j0) ncol, to 1e-9 (the Newton solve returned its
    bracket's midpoint, up to ~10 mV off, when its last correction rounded to nothing)."""
    from kmc.rates import Units, engine_params
    cfg = with_overrides({"lattice.dimension": 3, "lattice.voxel_um": 0.1,
                          "lattice.size_x_um": 1.6, "lattice.size_y_um": 1.6,
                          "seed.material": seed_material, "run.seed": 5})
    e0, _ = build_engine(cfg)
    p = engine_params(cfg, Units(cfg), e0.ncol)
    a, frt = p["alpha"], p["f_rt"]
    target = p["j_over_j0"] * e0.ncol

    def bv(x):
        return np.exp(a * frt * x) - np.exp(-(1 - a) * frt * x) if x > 0 else 0.0

    several = 0
    for e in states(seed_material, mode):
        W = [w * g for w, g in zip(e.class_weights(), p["gain"])]
        live = [k for k in range(1, len(W)) if W[k] > 0]
        eta = e.electrode_overpotential()
        if not live:
            assert eta == INF
            continue
        several += len(live) > 1
        current = sum(W[k] * bv(eta - p["onset"][k]) for k in live)
        assert current == pytest.approx(target, rel=1e-9)
    assert several > 50


def test_cutoff_from_a_stale_potential_solve_is_checked_again(tmp_path):
    """A cutoff read from stale local current factors (the columns that carried the current
    gone, those left given none of it) is checked again with a fresh potential solve: it
    does not hold, and the voltage is the solved one; with no solver it stands."""
    from kmc.runner import Run
    cfg = with_overrides({"lattice.dimension": 2, "lattice.size_x_um": 6.4,
                          "cell.stack_pressure_MPa": 15.0, "run.seed": 3})
    run = Run(cfg, tmp_path / "run")
    e, vcut = run.engine, 0.3
    e.advance(10**9, INF, e.n_plated + 5 * e.ncol, INF)     # five layers of metal
    e.set_mode("strip")
    run.update_potential()
    solved = e.voltage()
    assert 0.0 < solved < vcut
    e.set_local_factors(np.zeros(e.ncol))                   # stale: no column carries current
    assert e.exceeds_cutoff(vcut)
    assert not run.cutoff_holds(vcut)
    assert e.voltage() == pytest.approx(solved)
    run.solve_every = 0                                     # no solver: nothing to re-check
    e.set_local_factors(np.zeros(e.ncol))
    assert run.cutoff_holds(vcut)
