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
