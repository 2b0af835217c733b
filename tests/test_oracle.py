"""The compiled engine against the pure-Python oracle (tests/oracle.py), one event at a time.

Engine and oracle are built from the same small configurations and the same seed; after
every single event (engine.advance(1, ...)) the lattice, heights, clock (exactly equal
floats), counters, stop reasons, every leaf rate, the tree totals, the voltage and the state
of the random stream must be identical. The oracle recomputes connectivity by a full flood
fill after each event, so this also checks the engine's incremental dead-metal detection.
"""
import math
from collections import Counter

import numpy as np
import pytest

from kmc import config as C
from kmc import phases
from kmc._engine import MODES, PHASES, STOP_REASONS, Engine
from kmc.lattice import anode_free_lattice, bit_generator, build_engine
from kmc.rates import Units, engine_params, lattice_shape

import oracle as O

INF = math.inf
NAMES = {v: k for k, v in STOP_REASONS.items()}


# ---------------------------------------------------------------------- helpers

def make_cfg(**overrides):
    """Resolved config from the defaults and overrides given as section__key=value."""
    return C.with_overrides(overrides)


def small_2d(**over):
    base = dict(lattice__dimension=2, lattice__size_x_um=1.2, lattice__headroom_um=1.9,
                protocol__current_density_mA_cm2=5.0)
    base.update(over)
    return make_cfg(**base)


def small_3d(**over):
    base = dict(lattice__dimension=3, lattice__size_x_um=0.6, lattice__size_y_um=0.6,
                lattice__headroom_um=1.3, protocol__current_density_mA_cm2=5.0)
    base.update(over)
    return make_cfg(**base)


def window_ok(h, nx, ny, span, step):
    """Every two columns within Chebyshev distance span differ by at most step."""
    h = np.asarray(h).reshape(ny, nx).astype(int)
    by = span if ny > 1 else 0
    return all(np.all(np.abs(h - np.roll(h, (dy, dx), axis=(0, 1))) <= step)
               for dy in range(-by, by + 1) for dx in range(-span, span + 1))


class Pair:
    """An engine and an oracle driven side by side, compared after every event."""

    def __init__(self, engine, orc, bg_engine, bg_oracle):
        self.eng, self.orc = engine, orc
        self.bg_e, self.bg_o = bg_engine, bg_oracle
        self.kinds = Counter()          # executed event kinds (from the oracle)
        self.reasons = []               # stop reason of every half-cycle
        self.max_dead = 0
        self.dead_made = Counter()      # events that raised the dead-metal count, by mode
        self.n_calls = 0
        self.win_pairs = None
        self.check("after load")

    @classmethod
    def from_config(cls, cfg):
        units = Units(cfg)
        nx, ny, nz, zc, step, span = lattice_shape(cfg, units)
        bg_e, bg_o = bit_generator(cfg["run"]["seed"]), bit_generator(cfg["run"]["seed"])
        eng, _ = build_engine(cfg, bitgen=bg_e)
        orc = O.Oracle(nx, ny, nz, zc, step, engine_params(cfg, units, nx * ny), bg_o,
                       span=span)
        orc.load_lattice(*anode_free_lattice(nx, ny, nz, zc))
        pair = cls(eng, orc, bg_e, bg_o)
        pair.units = units
        return pair

    @classmethod
    def from_lattice(cls, shape, params, seed, state, h, **flags):
        nx, ny, nz, zc, step = shape
        bg_e, bg_o = bit_generator(seed), bit_generator(seed)
        flags.setdefault("span", 1)
        eng = Engine(nx, ny, nz, zc, step, params, bg_e, **flags)
        orc = O.Oracle(nx, ny, nz, zc, step, params, bg_o, **flags)
        eng.load_lattice(state, h)
        orc.load_lattice(state, h)
        return cls(eng, orc, bg_e, bg_o)

    def site_name(self, s):
        e = self.eng
        z, col = divmod(int(s), e.ncol)
        y, x = divmod(col, e.nx)
        return f"(x={x}, y={y}, z={z})" if e.ny > 1 else f"(x={x}, z={z})"

    def check(self, where):
        e, o = self.eng, self.orc
        ost = o.state
        if not np.array_equal(e.state_arr, ost):
            bad = np.nonzero(e.state_arr != ost)[0]
            detail = ", ".join(f"{self.site_name(s)} engine {phases.NAMES[e.state_arr[s]]} "
                               f"oracle {phases.NAMES[ost[s]]}" for s in bad[:8])
            raise AssertionError(f"{where}: lattice differs at {len(bad)} sites: {detail}")
        assert np.array_equal(e.h_arr, o.h), f"{where}: heights differ"
        assert e.t == o.t, f"{where}: clock {e.t!r} != {o.t!r}"
        c = e.get_counters()
        for k in ("n_events", "n_plated", "n_stripped", "n_thermal", "n_creep", "n_echem"):
            assert c[k] == getattr(o, k), f"{where}: {k} {c[k]} != {getattr(o, k)}"
        assert e.n_metal == int(np.count_nonzero(ost == O.METAL)), f"{where}: n_metal"
        assert e.n_dead == int(np.count_nonzero(ost == O.DEAD)), f"{where}: n_dead"
        er, orr = e.rates_snapshot(), o.rates_snapshot()
        for i, what in enumerate(("thermal rate", "creep count", "echem weight")):
            if not np.array_equal(er[i], orr[i]):
                bad = np.nonzero(er[i] != orr[i])[0][:6]
                name = self.site_name if i < 2 else (lambda c: f"column {c}")
                detail = ", ".join(f"{name(s)} engine {er[i][s]!r} oracle {orr[i][s]!r}"
                                   for s in bad)
                raise AssertionError(f"{where}: {what} differs: {detail}")
        assert er[3] == orr[3], f"{where}: top counts {er[3]} != {orr[3]}"
        assert tuple(e.totals) == tuple(o.totals), f"{where}: totals {e.totals} {o.totals}"
        assert e.voltage() == o.voltage(), f"{where}: voltage {e.voltage()} {o.voltage()}"
        assert self.bg_e.state == self.bg_o.state, f"{where}: random streams diverged"
        # invariants of the geometry (the oracle's lift relaxation relies on the window bound)
        assert e.span == o.span
        if self.win_pairs is None:
            self.win_pairs = np.array([(c, w) for c in range(e.ncol) for w in o.win[c]]).T
        a, b = self.win_pairs
        assert np.all(np.abs(e.h_arr[a] - e.h_arr[b]) <= e.step), f"{where}: window bound"
        grid = ost.reshape(e.nz, e.ncol)
        assert np.all(grid[:e.zc] == O.COLLECTOR), f"{where}: collector layers"
        z = np.arange(e.nz)[:, None]
        assert np.all(grid[z >= o.h[None, :]] == O.ELECTROLYTE), f"{where}: separator"
        self.max_dead = max(self.max_dead, e.n_dead)

    def half_cycle(self, mode, max_events, charge=None, t_stop=INF, v_cutoff=0.5):
        """Switch both to `mode` and run one event at a time until a stop; charge counts
        voxels in this half-cycle (None: no charge stop). Returns the stop reason."""
        self.eng.set_mode(mode)
        self.orc.set_mode(mode)
        self.check(f"set_mode({mode})")
        done = self.eng.n_plated if mode == "plate" else self.eng.n_stripped
        target = done + charge if charge is not None else 2 ** 62
        reason = NAMES["events"]
        for i in range(max_events):
            self.n_calls += 1
            where = f"{mode} call {i} (event {self.eng.n_events + 1})"
            n_dead = self.eng.n_dead
            r_e = self.eng.advance(1, t_stop, target, v_cutoff)
            r_o = self.orc.advance(1, t_stop, target, v_cutoff)
            assert r_e == r_o, f"{where}: stop reason engine {STOP_REASONS[r_e]} " \
                               f"oracle {STOP_REASONS.get(r_o, r_o)}"
            if self.orc.last_event is not None:
                self.kinds[self.orc.last_event] += 1
            self.check(where)
            if self.eng.n_dead > n_dead:
                self.dead_made[mode] += 1
            reason = r_e
            if reason != NAMES["events"]:
                break
        self.reasons.append(STOP_REASONS[reason])
        print(mode, "->", self.summary())
        return reason

    def summary(self):
        return (f"events {self.eng.n_events} calls {self.n_calls} kinds {dict(self.kinds)} "
                f"reasons {self.reasons} max_dead {self.max_dead} dead_made "
                f"{dict(self.dead_made)} "
                f"searches {self.eng.n_connectivity_searches} t {self.eng.t:.4g}")

    def cycles(self, n, plate_voxels, max_events, strip_voxels=None, v_cutoff=0.5):
        for _ in range(n):
            self.half_cycle("plate", max_events, charge=plate_voxels, v_cutoff=10.0)
            self.half_cycle("strip", max_events, charge=strip_voxels, v_cutoff=v_cutoff)


# ---------------------------------------------------------------------- basics

def test_codes_match_engine():
    names = ("EMPTY", "METAL", "DEAD", "COLLECTOR", "ELECTROLYTE", "SEED", "SOFT", "INTERPHASE")
    for name in names:
        assert getattr(O, name) == PHASES[name] == getattr(phases, name)
    assert O.MODES == MODES
    for code, name in STOP_REASONS.items():
        assert getattr(O, "STOP_" + name.upper()) == code


def test_generator_random_is_next_double():
    """The engine draws with the bit generator's next_double; Generator.random() is it."""
    a, b = bit_generator(12345), bit_generator(12345)
    gen = np.random.Generator(a)
    for _ in range(100):
        assert gen.random() == b.ctypes.next_double(b.ctypes.state)
    assert a.state == b.state


def test_sum_tree_layout():
    t = O.Tree([1.0, 0.0, 2.5])
    assert t.levels == [[1.0, 0.0, 2.5], [3.5]] and t.total == 3.5
    assert t.find(0.0) == 0 and t.find(0.999) == 0
    assert t.find(1.0) == 2 and t.find(3.49) == 2
    assert t.find(99.0) == 2          # overshoot never lands on a zero leaf
    big = O.Tree([float(i % 5) for i in range(100)])
    assert [len(level) for level in big.levels] == [100, 13, 2, 1]
    assert big.total == sum(float(i % 5) for i in range(100))
    assert big.find(0.5) == 1 and big.find(big.total - 1e-9) == 99


def test_no_events_at_rest_on_bare_collector():
    pair = Pair.from_config(small_2d())
    assert pair.half_cycle("rest", 5) == NAMES["no_events"]
    assert pair.eng.t == 0.0 and pair.eng.n_events == 0


# ---------------------------------------------------------------------- protocols

@pytest.mark.parametrize("dim", [2, 3])
def test_plate_strip_with_creep(dim):
    """Stack pressure on: creep moves (vertical, settle, lateral) alongside everything else."""
    over = dict(cell__stack_pressure_MPa=15.0, diffusion__self_diffusivity_cm2_s=1e-11,
                nucleation__interfacial_diffusivity_um2_s=0.1, run__seed=11 + dim)
    pair = Pair.from_config(small_2d(**over) if dim == 2 else small_3d(**over))
    layers = 4 if dim == 2 else 2
    pair.cycles(3 if dim == 2 else 2, plate_voxels=layers * pair.eng.ncol, max_events=2500,
                v_cutoff=0.6)
    k = pair.kinds
    assert pair.eng.creep_on
    assert k["plate"] > 0 and k["strip"] > 0 and k["hop"] > 0
    assert k["creep-settle"] > 0 and k["creep-vertical"] + k["creep-lateral"] > 0
    assert "charge" in pair.reasons


@pytest.mark.parametrize("dim", [2, 3])
def test_wide_separator_window(dim):
    """span 2: the separator is rigid to within two voxels over 5 (2D) or 5x5 (3D) columns."""
    over = dict(cell__stack_pressure_MPa=15.0, diffusion__self_diffusivity_cm2_s=1e-11,
                mechanics__separator_span_um=0.2, mechanics__separator_max_step_um=0.2,
                nucleation__interfacial_diffusivity_um2_s=0.1, run__seed=15 + dim)
    pair = Pair.from_config(small_2d(**over) if dim == 2 else small_3d(**over))
    assert pair.eng.span == 2 and pair.eng.step == 2
    pair.cycles(2, plate_voxels=(3 if dim == 2 else 2) * pair.eng.ncol, max_events=1500,
                v_cutoff=0.6)
    k = pair.kinds
    assert k["plate"] > 0 and k["strip"] > 0 and k["creep-settle"] > 0 and k["adatom"] > 0


@pytest.mark.parametrize("dim", [2, 3])
def test_plate_strip_without_pressure(dim):
    """No stack pressure: no creep, the separator never comes down again (step 3 voxels
    so that deposits can grow before the lift cascade opens gaps everywhere)."""
    over = dict(cell__stack_pressure_MPa=0.0, diffusion__self_diffusivity_cm2_s=1e-12,
                mechanics__separator_max_step_um=0.3,
                nucleation__interfacial_diffusivity_um2_s=0.1, run__seed=21 + dim)
    pair = Pair.from_config(small_2d(**over) if dim == 2 else small_3d(**over))
    for _ in range(2):      # no voltage stop: hops go on when no column can take current
        pair.half_cycle("plate", 1200, charge=4 * pair.eng.ncol, v_cutoff=INF)
        pair.half_cycle("strip", 800, charge=3 * pair.eng.ncol, v_cutoff=INF)
    assert not pair.eng.creep_on
    assert pair.eng.n_creep == 0 and pair.eng.totals[1] == 0.0
    assert pair.kinds["plate"] > 0 and pair.kinds["strip"] > 0 and pair.kinds["hop"] > 0


@pytest.mark.parametrize("dim,crit", [(2, 1), (2, 2), (3, 1), (3, 2)])
def test_adatom_nucleation(dim, crit):
    """Adatoms hop on the bare collector until they meet crit_size mobile neighbours."""
    over = dict(nucleation__critical_size=crit, nucleation__interfacial_diffusivity_um2_s=0.1,
                diffusion__self_diffusivity_cm2_s=1e-11, run__seed=31 + 2 * dim + crit)
    pair = Pair.from_config(small_2d(**over) if dim == 2 else small_3d(**over))
    pair.half_cycle("plate", 2000, charge=pair.eng.ncol, v_cutoff=10.0)
    pair.half_cycle("strip", 500, charge=pair.eng.ncol // 2, v_cutoff=10.0)
    pair.half_cycle("plate", 1000, charge=pair.eng.ncol, v_cutoff=10.0)
    assert pair.kinds["adatom"] > 20
    assert pair.kinds["plate"] > 0


@pytest.mark.parametrize("dim", [2, 3])
def test_dead_metal_during_stripping(dim):
    """Thick porous deposits at 0 MPa: while stripping, strips and hops cut metal off the
    collector (dead metal must appear during a strip half-cycle at least once)."""
    over = dict(cell__stack_pressure_MPa=0.0, diffusion__self_diffusivity_cm2_s=1e-12,
                diffusion__bond_energy_eV=0.03, mechanics__separator_max_step_um=0.3,
                nucleation__interfacial_diffusivity_um2_s=0.1, run__seed=41 + dim)
    pair = Pair.from_config(small_2d(**over) if dim == 2 else small_3d(**over))
    for _ in range(2):
        pair.half_cycle("plate", 1500, charge=5 * pair.eng.ncol, v_cutoff=INF)
        pair.half_cycle("strip", 1500, v_cutoff=10.0)
    assert pair.dead_made["strip"] > 0
    assert pair.kinds["strip"] > 0
    assert pair.eng.n_connectivity_searches > 0


def test_time_stop():
    """advance(t_stop): the event that would pass t_stop is not run and the clock stops there."""
    pair = Pair.from_config(small_2d(cell__stack_pressure_MPa=15.0, run__seed=51,
                                     diffusion__self_diffusivity_cm2_s=1e-11))
    t_stop = 0.0
    for _ in range(6):
        t_stop += 3.0
        assert pair.half_cycle("plate", 3000, t_stop=t_stop, v_cutoff=10.0) == NAMES["time"]
        assert pair.eng.t == t_stop
    t_stop = pair.eng.t + 4.0
    assert pair.half_cycle("strip", 3000, t_stop=t_stop, v_cutoff=10.0) == NAMES["time"]
    assert pair.eng.t == t_stop
    assert pair.kinds["plate"] > 0 and pair.kinds["strip"] > 0


def test_batched_advance():
    """Many events per advance() call: same stop reasons and state after every call."""
    pair = Pair.from_config(small_2d(cell__stack_pressure_MPa=15.0, run__seed=55,
                                     diffusion__self_diffusivity_cm2_s=1e-11,
                                     nucleation__interfacial_diffusivity_um2_s=0.1))
    e, o = pair.eng, pair.orc
    for mode, target, n in (("plate", 3 * e.ncol, 17), ("strip", 2 * e.ncol, 7),
                            ("rest", 0, 101), ("plate", 5 * e.ncol, 1000)):
        e.set_mode(mode)
        o.set_mode(mode)
        for call in range(200):
            r_e = e.advance(n, INF, target, 10.0)
            r_o = o.advance(n, INF, target, 10.0)
            assert r_e == r_o, f"{mode} batch {call}: {r_e} != {r_o}"
            pair.check(f"{mode} batch {call}")
            if r_e != NAMES["events"] or mode == "rest":
                break
        assert STOP_REASONS[r_e] in (("events", "no_events") if mode == "rest" else ("charge",))
    assert e.n_plated == 5 * e.ncol and e.n_stripped == 2 * e.ncol


def test_overflow_and_voltage_stops():
    """A short box fills up (overflow); stripping everything ends on the voltage cutoff."""
    pair = Pair.from_config(small_2d(lattice__headroom_um=0.5, cell__stack_pressure_MPa=15.0,
                                     diffusion__self_diffusivity_cm2_s=1e-11, run__seed=61))
    assert pair.half_cycle("plate", 3000, v_cutoff=10.0) == NAMES["overflow"]
    assert pair.half_cycle("strip", 5000, v_cutoff=0.5) == NAMES["voltage"]


# ---------------------------------------------------------------------- pre-built lattices

def random_lattice(rng, nx, ny, nz, zc, step, span, fill):
    """Heights within the window bound, metal (share `fill`) or voids below them."""
    h = np.full((ny, nx), zc, dtype=np.intc)
    for _ in range(40 * nx * ny):
        y, x = rng.integers(ny), rng.integers(nx)
        h[y, x] += 1
        if h[y, x] >= nz or not window_ok(h, nx, ny, span, step):
            h[y, x] -= 1
    h = h.reshape(-1)
    state = np.full((nz, nx * ny), O.ELECTROLYTE, dtype=np.uint8)
    state[:zc] = O.COLLECTOR
    for c in range(nx * ny):
        for z in range(zc, h[c]):
            state[z, c] = O.METAL if rng.random() < fill else O.EMPTY
    return state.reshape(-1), h


@pytest.mark.parametrize("flags", [{}, {"track_connectivity": False},
                                   {"periodic_z": True, "track_connectivity": False}])
@pytest.mark.parametrize("dim", [2, 3])
def test_prebuilt_porous_lattice(flags, dim):
    """Random porous deposits (many dead clusters at load), all channels, both flags."""
    cfg = (small_2d if dim == 2 else small_3d)(cell__stack_pressure_MPa=15.0,
                                              diffusion__self_diffusivity_cm2_s=1e-11)
    shape = (10, 1, 12, 1, 2) if dim == 2 else (5, 4, 10, 1, 2)
    nx, ny = shape[0], shape[1]
    params = engine_params(cfg, Units(cfg), nx * ny)
    rng = np.random.default_rng(70 + dim)
    state, h = random_lattice(rng, *shape, span=1, fill=0.55 if dim == 2 else 0.4)
    pair = Pair.from_lattice(shape, params, 71 + dim, state, h, **flags)
    if flags.get("track_connectivity", True):
        assert pair.eng.n_dead > 0
    pair.half_cycle("strip", 800, v_cutoff=10.0)
    pair.half_cycle("rest", 300)
    pair.half_cycle("plate", 800, v_cutoff=10.0)
    assert pair.kinds["hop"] > 0


# ---------------------------------------------------------------------- regressions

def test_merged_search_keeps_frontier():
    """Strip one voxel s whose three metal neighbours form three groups in the 3x3 cube:
    G0 (left) is connected to the collector by a column at x=3, G2 (below) is a dead-end
    branch that touches G0's path at (4,4), G1 (right) is a long live path. G0 meets G2's
    mark before reaching the collector and merges into it, abandoning its frontier; G2 then
    runs out of sites and both are killed although they are connected (x=3 column)."""
    cfg = make_cfg(lattice__dimension=2, cell__stack_pressure_MPa=0.0,
                   diffusion__self_diffusivity_cm2_s=0.0,
                   nucleation__interfacial_diffusivity_um2_s=0.0)
    nx, nz = 12, 10
    shape = (nx, 1, nz, 1, nz)
    grid = np.full((nz, nx), O.EMPTY, dtype=np.uint8)
    grid[0] = O.COLLECTOR
    h = np.full(nx, 8, dtype=np.intc)
    h[5] = 7                              # s = (5, 6) is the only metal top: it is stripped
    for c in range(nx):
        grid[h[c]:, c] = O.ELECTROLYTE
    metal = [(5, 6),
             (4, 6), (3, 6), (3, 5), (3, 4), (3, 3), (3, 2), (3, 1),     # G0 and its path
             (5, 5), (5, 4), (4, 4), (5, 3), (5, 2),                     # G2, dead-end branch
             (6, 6), (7, 6), (8, 6), (9, 6), (10, 6), (10, 5), (10, 4),  # G1, long path
             (10, 3), (10, 2), (10, 1)]
    for x, z in metal:
        grid[z, x] = O.METAL
    pair = Pair.from_lattice(shape, engine_params(cfg, Units(cfg), nx), 5,
                             grid.reshape(-1), h)
    assert pair.eng.n_dead == 0
    pair.half_cycle("strip", 1, v_cutoff=10.0)
    assert pair.kinds["strip"] == 1


def test_periodic_z_refuses_connectivity():
    """A lattice periodic in z has no collector below the metal: tracking is refused."""
    cfg = make_cfg(lattice__dimension=2)
    with pytest.raises(ValueError, match="periodic_z"):
        Pair.from_lattice((4, 1, 6, 1, 1), engine_params(cfg, Units(cfg), 4), 3,
                          np.zeros(24, dtype=np.uint8), np.full(4, 6, dtype=np.intc),
                          periodic_z=True)
