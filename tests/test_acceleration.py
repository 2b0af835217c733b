"""Stiffness acceleration (acceleration.hop_rate_cap_per_s): a phase whose fastest hop rate
exceeds the cap has its whole hop-rate table scaled down by one factor."""
import numpy as np
import pytest

from kmc.config import ConfigError, with_overrides
from kmc.lattice import build_engine
from kmc.rates import Units, engine_params

INF = float("inf")


def li_na_cfg(cap, **extra):
    """A 2D Li electrode with 20 mol % Na domains stripped at 0 MPa (the stiffest paper-004
    condition: Na hops around the voids)."""
    over = {"lattice.dimension": 2, "lattice.voxel_um": 0.5, "lattice.size_x_um": 16.0,
            "cell.stack_pressure_MPa": 0.0, "electrode.initial_metal_um": 10.0,
            "electrode.soft_mol_percent": 20.0, "electrode.soft_domain_min_um": 1.0,
            "electrode.soft_domain_max_um": 3.0, "protocol.plate_capacity_mAh_cm2": 0.0,
            "protocol.voltage_cutoff_V": 0.15, "acceleration.hop_rate_cap_per_s": cap,
            "run.seed": 3}
    over.update(extra)
    return with_overrides(over)


def tables(cfg):
    p = engine_params(cfg, Units(cfg), 32)
    return np.array(p["k_bond"]), np.array(p["k_soft"])


def test_cap_scales_only_the_fast_phase_and_keeps_its_ratios():
    kb0, ks0 = tables(li_na_cfg(0.0))
    cap = 0.5 * ks0.max()
    assert kb0.max() < cap                         # Li is slower than the cap: untouched
    kb, ks = tables(li_na_cfg(cap))
    assert np.array_equal(kb, kb0)
    assert ks.max() == pytest.approx(cap)
    np.testing.assert_allclose(ks / ks.max(), ks0 / ks0.max(), rtol=1e-14)
    # a cap above every rate changes nothing, bit for bit
    kb1, ks1 = tables(li_na_cfg(10 * ks0.max()))
    assert np.array_equal(kb1, kb0) and np.array_equal(ks1, ks0)


def test_negative_cap_is_a_config_error():
    with pytest.raises(ConfigError, match="acceleration.hop_rate_cap_per_s"):
        li_na_cfg(-1.0)


def test_cap_cuts_the_hops_per_electrochemical_event():
    """The same strip with Na hops capped at a tenth of their fastest rate spends fewer
    thermal events per electrochemical event (the stiffness), and strips the same charge."""
    stiff = {}
    for factor in (None, 0.1):
        cap = 0.0 if factor is None else factor * tables(li_na_cfg(0.0))[1].max()
        eng, units = build_engine(li_na_cfg(cap))
        eng.set_mode("strip")
        eng.advance(10 ** 8, INF, 3 * eng.ncol, 10.0)
        assert eng.n_stripped == 3 * eng.ncol
        stiff[factor] = eng.n_thermal / eng.n_echem
    assert stiff[0.1] < 0.5 * stiff[None], stiff
