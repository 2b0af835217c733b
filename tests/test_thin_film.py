"""Thin-film creep: a metal film squeezed between the rigid collector and separator closes a
gap more slowly the thinner it is, by (t / l)^(2 + 1/n) (kmc.rates.film_factor)."""
import numpy as np
import pytest

from kmc import config as C
from kmc._engine import Engine
from kmc.lattice import bit_generator
from kmc.phases import COLLECTOR, ELECTROLYTE, EMPTY, METAL
from kmc.rates import Units, engine_params, film_factor


def cfg_of(**over):
    base = dict(lattice__dimension=2, lattice__voxel_um=0.1, lattice__size_x_um=0.8,
                cell__stack_pressure_MPa=15.0, diffusion__self_diffusivity_cm2_s=0.0,
                nucleation__interfacial_diffusivity_um2_s=0.0)
    base.update(over)
    return C.with_overrides(base)


def test_film_factor_table():
    cfg = cfg_of()
    table = film_factor(cfg["mechanics"], Units(cfg))
    power = 2.0 + 1.0 / cfg["mechanics"]["creep_exponent"]
    assert len(table) == 11 and table[-1] == 1.0
    assert table[0] == table[1] == pytest.approx(0.1 ** power)
    assert table[5] == pytest.approx(0.5 ** power)
    assert all(a < b for a, b in zip(table[1:], table[2:]))
    # at voxels as large as the creep length no film is thin: every factor is 1
    coarse = cfg_of(lattice__voxel_um=1.0, lattice__size_x_um=8.0)
    assert film_factor(coarse["mechanics"], Units(coarse)) == [1.0, 1.0]
    off = cfg_of(mechanics__thin_film_creep=False)
    assert film_factor(off["mechanics"], Units(off)) == [1.0]


def gap_lattice(nx, nz, t):
    """Collector layer, a metal film t voxels thick, separator on it; column 0's top metal
    voxel stripped (an EMPTY gap under the separator): its settle is the only creep move."""
    st = np.full((nz, nx), ELECTROLYTE, dtype=np.uint8)
    st[0] = COLLECTOR
    st[1:t + 1] = METAL
    st[t, 0] = EMPTY
    h = np.full(nx, t + 1, dtype=np.intc)
    return st.reshape(-1), h


@pytest.mark.parametrize("t", [2, 5, 12])
def test_gap_closes_at_film_rate(t):
    """Waiting time to the gap's closure is exponential with mean 1 / (k_creep g(t)): mean
    over 600 independent gaps within 4 standard errors, and the move is a settle."""
    cfg = cfg_of()
    units = Units(cfg)
    nx, nz = 8, 16
    params = engine_params(cfg, units, nx)
    bg = bit_generator(7 + t)
    eng = Engine(nx, 1, nz, 1, 1, params, bg)
    g = params["film_factor"][min(t, len(params["film_factor"]) - 1)]
    waits = []
    for _ in range(600):
        st, h = gap_lattice(nx, nz, t)
        eng.load_lattice(st, h)
        eng.set_mode("rest")
        _, moves, _, k_creep = eng.totals
        assert moves == pytest.approx(g) and eng.film_arr[0] == g
        t0 = eng.t
        eng.advance(1, np.inf, 2 ** 62, 10.0)
        assert eng.n_creep >= 1 and eng.h_arr[0] == t       # the separator came down
        waits.append(eng.t - t0)
    mean = 1.0 / (k_creep * g)
    assert abs(np.mean(waits) - mean) < 4 * mean / np.sqrt(len(waits))
