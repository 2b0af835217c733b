"""Physics of the Metropolis lattice-gas hop rule (engine parameter metropolis_T, built by
kmc.rates.metropolis_params; the lattice-gas and growth benchmarks use it).

Rule: a mobile voxel at s hops into an EMPTY neighbour e at k0 min(1, exp(-2 dE / T)),
k0 = k_bond[2 d - 1] = D / a^2, dE = (ne(e) + 1) - ne(s), ne(x) = EMPTY neighbours of x
(counted with s occupied; s is empty after the move).

Energy: let H be the number of occupied-EMPTY nearest-neighbour pairs. A hop s -> e changes
only the pairs at s and e: with A = the other neighbours of s and B those of e (a_E, b_E of
them EMPTY), the pairs s-A go from a_E to |A| - a_E, the pairs e-B from |B| - b_E to b_E
(|A| = |B| = 2 d - 1) and the pair s-e stays one pair, so dH = 2 (b_E - a_E) = 2 dE
(ne(s) = a_E + 1, ne(e) = b_E). The rate is min(1, exp(-dH / T)) k0: Metropolis for H at
temperature T, which satisfies detailed balance with pi ~ exp(-H / T).

Tests: the rate of a hand-built configuration (every dE by hand) and the share of each
target in many first events; a lone particle (dE = 0 for every move) random-walks with
D = k0 a^2; two particles on a small periodic lattice spend the Boltzmann share of the time
side by side; the parameters are checked; the rule off is bond counting exactly.
"""
import math

import numpy as np
import pytest

from kmc import config as C
from kmc._engine import STOP_REASONS, Engine
from kmc.lattice import bit_generator
from kmc.phases import COLLECTOR, EMPTY, METAL
from kmc.rates import Units, engine_params, metropolis_params

TIME = {v: k for k, v in STOP_REASONS.items()}["time"]
INF = math.inf


def gas_params(dim, T, **over):
    """engine_params for a `dim`-dimensional lattice gas (no adatoms, no creep) with the
    Metropolis rule at T (T None: bond counting)."""
    cfg = C.with_overrides({"lattice.dimension": dim, "cell.stack_pressure_MPa": 0.0,
                            "nucleation.interfacial_diffusivity_um2_s": 0.0, **over})
    params = engine_params(cfg, Units(cfg), 1)
    if T is not None:
        params.update(metropolis_params(T))
    return params, cfg


def periodic_engine(n, dim, params, seed):
    """An n^3 (n^2 in 2D) lattice periodic in every direction."""
    return Engine(n, n if dim == 3 else 1, n, 0, 1, params, bit_generator(seed),
                  periodic_z=True, track_connectivity=False)


def site(x, y, z, n):
    return (z * n + y) * n + x


# ---------------------------------------------------------------------- rates by hand

def test_rate_of_a_hand_built_configuration():
    """5^3 periodic lattice; the only mobile voxel is M at (2, 2, 2); fixed COLLECTOR voxels
    (occupied, never moving) at its +x and +y neighbours, so ne(M) = 4, and around its four
    EMPTY neighbours (targets, in neighbour order):
      -x (1,2,2): fixed at (0,2,2), (1,3,2), (1,1,2): ne = 2 -> dE = 2 + 1 - 4 = -1, factor 1
      -y (2,1,2): fixed at (1,1,2), (3,1,2):          ne = 3 -> dE = 0,  factor 1
      -z (2,2,1): fixed at (2,2,0):                   ne = 4 -> dE = +1, factor exp(-2/T)
      +z (2,2,3): none:                               ne = 5 -> dE = +2, factor exp(-4/T)
    Hops are trials, not leaves (every thermal leaf is 0); the trials' bound is 6 k0 (one
    k0 per direction of the one mobile voxel): the thermal total. From the same lattice
    20000 times: the first event moves M to each target with
    probability its factor / the sum (4.5 standard errors per target), and its waiting time
    (thinned trials included) is exponential at the true total rate k0 (1 + 1 + exp(-2/T) +
    exp(-4/T)), not the bound's: mean within 4.5 standard errors, P(t > mean) = 1/e within
    0.015. Without the rule the leaf is bond counting's 4 k_bond[2] (two solid neighbours)."""
    n, T = 5, 2.0
    params, _ = gas_params(3, T)
    k0 = params["k_bond"][5]
    state = np.full(n ** 3, EMPTY, dtype=np.uint8)
    m = site(2, 2, 2, n)
    state[m] = METAL
    for xyz in [(3, 2, 2), (2, 3, 2), (0, 2, 2), (1, 3, 2), (1, 1, 2), (3, 1, 2), (2, 2, 0)]:
        state[site(*xyz, n)] = COLLECTOR
    h = np.full(n * n, n, dtype=np.intc)
    targets = [site(1, 2, 2, n), site(2, 1, 2, n), site(2, 2, 1, n), site(2, 2, 3, n)]
    factors = [1.0, 1.0, math.exp(-2 / T), math.exp(-4 / T)]
    eng = periodic_engine(n, 3, params, 1)
    eng.load_lattice(state, h)
    assert np.count_nonzero(eng.rates_snapshot()[0]) == 0
    assert eng.totals[0] == pytest.approx(6 * k0, rel=1e-14)
    bond, _ = gas_params(3, None)
    eng_b = periodic_engine(n, 3, bond, 1)
    eng_b.load_lattice(state, h)
    assert eng_b.rates_snapshot()[0][m] == pytest.approx(4 * bond["k_bond"][2], rel=1e-14)

    counts = dict.fromkeys(targets, 0)
    N = 20000
    waits = np.empty(N)
    eng.set_mode("rest")
    for i in range(N):
        eng.load_lattice(state, h)
        t0 = eng.t
        assert eng.advance(1, INF, 0, INF) == 0
        waits[i] = eng.t - t0
        new = int(np.flatnonzero(eng.state_arr == METAL)[0])
        counts[new] += 1
    assert eng.n_null > 1.2 * N          # the bound is 2.4 x the rate: ~1.4 thinned per event
    mean = 1.0 / (k0 * sum(factors))
    assert abs(waits.mean() - mean) < 4.5 * mean / math.sqrt(N)
    assert abs(np.mean(waits > mean) - math.exp(-1)) < 0.015
    p = np.array(factors) / sum(factors)
    got = np.array([counts[t] for t in targets])
    se = np.sqrt(N * p * (1 - p))
    assert got.sum() == N
    assert np.all(np.abs(got - N * p) < 4.5 * se), f"targets {got} expected {N * p}"


# ---------------------------------------------------------------------- lone walker

@pytest.mark.parametrize("dim, n, windows", [(3, 64, 5000), (2, 64, 8000)])
def test_lone_particle_random_walk(dim, n, windows):
    """One particle in an empty periodic lattice: every move has dE = (2d - 1 + 1) - 2d = 0,
    so it hops to each of its 2d neighbours at k0 = D / a^2 and MSD(t) = 2 d D t, D the
    configured self-diffusivity, within 5 %. Windows of duration T (2 d k0 T = 20 hops on
    average) end at the engine's time stop; the displacement of a window is read as the
    nearest periodic image (half the lattice is > 10 standard deviations of it), and the
    walk goes on from there (independent increments). The total rate stays 2 d k0."""
    params, cfg = gas_params(dim, 4.0)
    units = Units(cfg)
    k0 = params["k_bond"][2 * dim - 1]
    ny = n if dim == 3 else 1
    eng = periodic_engine(n, dim, params, 400 + dim)
    state = np.full(n * ny * n, EMPTY, dtype=np.uint8)
    pos = (n // 2) * n * ny + (n // 2) * n * (ny > 1) + n // 2     # the middle (z, y, x)
    state[pos] = METAL
    eng.load_lattice(state, np.full(n * ny, n, dtype=np.intc))
    eng.set_mode("rest")
    assert eng.totals[0] == pytest.approx(2 * dim * k0, rel=1e-14)
    T = 20 / (2 * dim * k0)
    shape = (n, ny, n)
    r2 = np.empty(windows)
    z0, y0, x0 = np.unravel_index(pos, shape)
    for w in range(windows):
        assert eng.advance(10 ** 9, eng.t + T, 0, INF) == TIME
        new = int(np.argmax(eng.state_arr))
        z1, y1, x1 = np.unravel_index(new, shape)
        d = [((int(b) - int(a) + n // 2) % n - n // 2) for a, b in ((x0, x1), (y0, y1), (z0, z1))]
        r2[w] = d[0] ** 2 + d[1] ** 2 + d[2] ** 2
        z0, y0, x0 = z1, y1, x1
    assert eng.n_thermal > 15 * windows
    assert eng.totals[0] == pytest.approx(2 * dim * k0, rel=1e-14)
    a2 = units.a_um ** 2
    D_um2 = cfg["diffusion"]["self_diffusivity_cm2_s"] * 1e8
    D_meas = r2.mean() * a2 / (2 * dim * T)
    sem = r2.std(ddof=1) / math.sqrt(windows) * a2 / (2 * dim * T)
    print(f"{dim}D lone particle: D = {D_meas:.5g} +- {sem:.2g} um2/s, configured {D_um2:.5g}")
    assert sem < 0.05 * D_um2 / 3
    assert D_meas == pytest.approx(D_um2, rel=0.05), \
        f"{dim}D lone particle: D = {D_meas:.5g} +- {sem:.2g} um2/s, configured {D_um2:.5g}"


# ---------------------------------------------------------------------- detailed balance

@pytest.mark.parametrize("T", [1.0, 4.0])
def test_two_particles_spend_the_boltzmann_share_side_by_side(T):
    """Two particles on a 4^3 periodic lattice. H = 2 x 6 - 2 [side by side] (see the
    module docstring), so pi ~ exp(-H / T) gives the pair, over its 64 x 63 / 2 positions of
    which 64 x 6 / 2 are side by side, P(side by side) = 6 e^(2/T) / (6 e^(2/T) + 57):
    0.438 at T = 1, 0.148 at T = 4 (no interaction: 6/63 = 0.095; a rule with exp(-dE / T)
    instead: 0.223 and 0.119). The time-weighted share over 150000 events must match within
    4 standard errors (batch means over 30 batches) and 0.02."""
    n = 4
    params, _ = gas_params(3, T)
    eng = periodic_engine(n, 3, params, 500 + int(T))
    state = np.full(n ** 3, EMPTY, dtype=np.uint8)
    state[site(0, 0, 0, n)] = METAL
    state[site(2, 2, 2, n)] = METAL
    eng.load_lattice(state, np.full(n * n, n, dtype=np.intc))
    eng.set_mode("rest")
    xyz = np.array(np.unravel_index(np.arange(n ** 3), (n, n, n))).T

    def side_by_side(st):
        a, b = np.flatnonzero(st == METAL)
        d = np.abs(xyz[a] - xyz[b])
        d = np.minimum(d, n - d)
        return int(d.sum()) == 1

    n_events, batches = 150_000, 30
    per = n_events // batches
    shares = []
    st = eng.state_arr
    for _ in range(batches):
        t_in = t_all = 0.0
        for _ in range(per):
            bound = side_by_side(st)
            t0 = eng.t
            assert eng.advance(1, INF, 0, INF) == 0
            dt = eng.t - t0
            t_all += dt
            if bound:
                t_in += dt
        shares.append(t_in / t_all)
    shares = np.array(shares)
    share, se = shares.mean(), shares.std(ddof=1) / math.sqrt(batches)
    w = 6 * math.exp(2 / T)
    exact = w / (w + 57)
    print(f"T {T}: side by side {share:.4f} +- {se:.4f}, Boltzmann {exact:.4f}")
    assert abs(share - exact) < max(4 * se, 1e-3) and abs(share - exact) < 0.02


# ---------------------------------------------------------------------- parameters

def test_parameters():
    """metropolis_T needs its factor table, and the table must be the one of that T;
    metropolis_T absent or 0 is bond counting, the same trajectory event for event."""
    params, _ = gas_params(3, None)
    with pytest.raises(ValueError, match="metropolis_table"):
        Engine(4, 4, 4, 0, 1, dict(params, metropolis_T=2.0), bit_generator(1),
               periodic_z=True, track_connectivity=False)
    wrong = dict(params, **metropolis_params(2.0))
    wrong["metropolis_T"] = 4.0
    with pytest.raises(ValueError, match="metropolis_table"):
        Engine(4, 4, 4, 0, 1, wrong, bit_generator(1), periodic_z=True,
               track_connectivity=False)
    with pytest.raises(ValueError):
        metropolis_params(0.0)
    table = metropolis_params(4.0)["metropolis_table"]
    assert len(table) == 13 and table[:7] == [1.0] * 7
    assert table[7] == math.exp(-0.5) and table[12] == math.exp(-3.0)

    rng = np.random.default_rng(9)
    state = np.where(rng.random(8 ** 3) < 0.5, METAL, EMPTY).astype(np.uint8)
    runs = []
    for p in (params, dict(params, metropolis_T=0.0)):
        eng = periodic_engine(8, 3, p, 7)
        assert not eng.metropolis
        eng.load_lattice(state, np.full(64, 8, dtype=np.intc))
        eng.set_mode("rest")
        eng.advance(20000, INF, 0, INF)
        runs.append((eng.state_arr.copy(), eng.t, eng.rates_snapshot()[0]))
    assert np.array_equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    assert np.array_equal(runs[0][2], runs[1][2])


@pytest.mark.parametrize("fill", [0.5, 0.2])
def test_lookahead_keeps_the_stream(fill):
    """Large lattices read the random stream ahead to prefetch the next trial's lines
    (Engine.lookahead, on from 2^22 sites under this rule); the generator is rewound past
    the unread draws whenever advance returns. Forced on for a small gas, the trajectory, the
    thinned trials and the generator's state after every call equal those with it off,
    over calls of 1 to 5000 events (the buffer's ends fall at different points); half
    filled (voxels found by drawing sites) and at 20 % (by a select)."""
    params, _ = gas_params(3, 4.0)
    rng = np.random.default_rng(7)
    state = np.where(rng.random(12 ** 3) < fill, METAL, EMPTY).astype(np.uint8)
    h = np.full(12 * 12, 12, dtype=np.intc)
    engines = []
    for on in (False, True):
        eng = periodic_engine(12, 3, params, 11)
        assert not eng.lookahead              # small: off by default
        eng.lookahead = on
        eng.load_lattice(state, h)
        eng.set_mode("rest")
        engines.append(eng)
    for n in [1, 2, 3, 17, 5000, 1, 64, 63, 65, 999]:
        for eng in engines:
            eng.advance(n, INF, 0, INF)
        off, on = engines
        assert on.n_events == off.n_events and on.n_null == off.n_null and on.t == off.t
        assert np.array_equal(on.state_arr, off.state_arr)
        assert on.bitgen.state == off.bitgen.state
    assert engines[1].n_null > 500
