"""The compiled engine against the pure-Python oracle (tests/oracle.py), one event at a time.

Engine and oracle are built from the same small configurations and the same seed; after
every single event (engine.advance(1, ...)) the lattice, seed load bytes, heights, local
current factors, clock (exactly equal floats), counters, stop reasons, every leaf rate, the
echem class of every column and the class trees, the tree totals, the electrode
overpotential and the voltage (exactly equal floats), the state of the random stream and
the metal inventory (plated - stripped = metal + dead + units held in seeds + interphase
voxels grown) must be identical. The oracle recomputes connectivity by a full flood fill
after each event, so this also checks the engine's incremental dead-metal detection, through
seeds, the soft phase and a conducting interphase included; a separate test checks the
engine alone against a rebuild over long runs.

The creep count byte of every site is compared, so both creep trees are: the matrix one
(bits 0-3, its total also in Engine.totals) and the soft one (bits 4-7; the engine keeps its
tree private, but its total sets the soft creep channel's rate and so the clock). So is the
interphase growth tree (private too: its total enters the clock, its leaves the column
picked for growth).
"""
import math
from collections import Counter

import numpy as np
import pytest

from kmc import config as C
from kmc import phases
from kmc._engine import CLASSES, MODES, PHASES, STOP_REASONS, Engine
from kmc.lattice import bit_generator, build_engine
from kmc.rates import Units, engine_params, lattice_shape, metropolis_params

import oracle as O

INF = math.inf
NAMES = {v: k for k, v in STOP_REASONS.items()}
CLASS_NAMES = {v: k for k, v in CLASSES.items()}


# ---------------------------------------------------------------------- helpers

# The seed, soft-electrode and interphase cases keep a bond energy below li_lpsc's (0.04 eV),
# and the interphase cases a softer contact yield strength (li_lpsc: 6.5 MPa): their rougher
# surfaces and faster creep reach every channel they check (strips under seeds, all-soft
# loaded tops, interphase tops cut off) within a few thousand events on these tiny lattices.
ROUGH_BOND_EV = 0.03
WEAK_CONTACT_YIELD_MPA = 4.4


def make_cfg(**overrides):
    """Resolved config from the defaults and overrides given as section__key=value.
    Thin-film creep is off unless asked for: these lattices are a few 0.1 um voxels thick,
    where it would slow every creep move (test_thin_film_creep and the random-deposit
    rebuild cases cover it)."""
    overrides.setdefault("mechanics__thin_film_creep", False)
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


def check_twin(eng, twin, mode, where, snapshot, compare, own_rebuild):
    """Load the engine's lattice into its twin (a rebuild from scratch with the same
    counters, mode and random stream) and compare snapshot(eng) with snapshot(twin); with
    own_rebuild also the engine's incremental state with its own rebuild()."""
    twin.load_lattice(eng.state_arr, eng.h_arr, eng.load_arr, eng.lf_arr, eng.floor_arr,
                      eng.base_arr)
    twin.set_mode(mode)
    twin.set_counters(eng.get_counters())
    twin.bitgen.state = eng.bitgen.state
    compare(snapshot(eng), snapshot(twin), where, "a rebuild (twin)")
    if own_rebuild:
        inc = snapshot(eng)
        eng.rebuild()
        compare(inc, snapshot(eng), where, "rebuild()")


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
        self.classes = Counter()        # picked echem classes (names)
        self.multi_class = Counter()    # echem events picked among >= 2 weighted classes
        self.reasons = []               # stop reason of every half-cycle
        self.max_dead = 0
        self.dead_made = Counter()      # events that raised the dead-metal count, by mode
        self.dead_revived = Counter()   # events that lowered it, by mode
        self.max_class = [0] * O.NCLASS  # most columns seen in each echem class
        self.seen = Counter()           # states seen after an event (coverage, soft phase)
        self.n_calls = 0
        self.win_pairs = None
        # metal units held by the lattice at load (plated minus stripped is added to it)
        self.inventory0 = engine.n_metal + engine.n_dead + engine.n_in_seed
        # interphase voxels at load and interphase growth events so far (each one made an
        # interphase voxel out of a metal one, or consumed it: a thin interphase)
        self.interphase0, self.sei0 = engine.n_interphase, engine.n_sei
        self.consumed0 = engine.n_consumed
        self.sei_searches = 0           # connectivity searches run by interphase growth
        self.check("after load")

    @classmethod
    def from_config(cls, cfg):
        """Engine from kmc.lattice.build_engine (seed layer included); the oracle loads the
        engine's starting lattice, loads and local factors."""
        units = Units(cfg)
        nx, ny, nz, zc, step, span = lattice_shape(cfg, units)
        bg_e, bg_o = bit_generator(cfg["run"]["seed"]), bit_generator(cfg["run"]["seed"])
        eng, _ = build_engine(cfg, bitgen=bg_e)
        orc = O.Oracle(nx, ny, nz, zc, step, engine_params(cfg, units, nx * ny), bg_o,
                       span=span)
        orc.load_lattice(eng.state_arr.copy(), eng.h_arr.copy(), eng.load_arr.copy(),
                         eng.lf_arr.copy(), eng.floor_arr.copy(), eng.base_arr.copy())
        pair = cls(eng, orc, bg_e, bg_o)
        pair.units = units
        return pair

    @classmethod
    def from_lattice(cls, shape, params, seed, state, h, load=None, local_factors=None,
                     **flags):
        nx, ny, nz, zc, step = shape
        bg_e, bg_o = bit_generator(seed), bit_generator(seed)
        flags.setdefault("span", 1)
        eng = Engine(nx, ny, nz, zc, step, params, bg_e, **flags)
        orc = O.Oracle(nx, ny, nz, zc, step, params, bg_o, **flags)
        eng.load_lattice(state, h, load, local_factors)
        orc.load_lattice(state, h, load, local_factors)
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
        if not np.array_equal(e.load_arr, o.load):
            bad = np.nonzero(e.load_arr != o.load)[0][:8]
            detail = ", ".join(f"{self.site_name(s)} engine {e.load_arr[s]} oracle "
                               f"{o.load[s]}" for s in bad)
            raise AssertionError(f"{where}: seed loads differ: {detail}")
        assert np.array_equal(e.h_arr, o.h), f"{where}: heights differ"
        assert np.array_equal(e.lf_arr, np.array(o.lf)), f"{where}: local factors differ"
        assert e.t == o.t, f"{where}: clock {e.t!r} != {o.t!r}"
        c = e.get_counters()
        for k in ("n_events", "n_plated", "n_stripped", "n_thermal", "n_creep", "n_echem",
                  "n_sei"):
            assert c[k] == getattr(o, k), f"{where}: {k} {c[k]} != {getattr(o, k)}"
        assert e.n_metal == int(np.count_nonzero(ost == O.METAL)), f"{where}: n_metal"
        assert e.n_dead == int(np.count_nonzero(ost == O.DEAD)), f"{where}: n_dead"
        assert e.n_in_seed == o.n_in_seed, f"{where}: n_in_seed {e.n_in_seed} {o.n_in_seed}"
        assert e.n_interphase == o.n_interphase, \
            f"{where}: n_interphase {e.n_interphase} != {o.n_interphase}"
        assert e.n_consumed == o.n_consumed, f"{where}: n_consumed"
        made = e.n_interphase - self.interphase0 + e.n_consumed - self.consumed0
        assert e.n_sei - self.sei0 == made, f"{where}: n_sei vs interphase voxels made"
        # inventory: every plated unit is a metal voxel, held in a seed, or turned into
        # interphase, until stripped
        assert (e.n_plated - e.n_stripped + self.inventory0
                == e.n_metal + e.n_dead + e.n_in_seed + made), f"{where}: inventory"
        assert e.has_bridges == o.has_bridges, f"{where}: has_bridges"
        er, orr = e.rates_snapshot(), o.rates_snapshot()
        if not np.array_equal(er[0], orr[0]):
            bad = np.nonzero(er[0] != orr[0])[0][:6]
            detail = ", ".join(f"{self.site_name(s)} ({phases.NAMES[ost[s]]}) engine "
                               f"{er[0][s]!r} oracle {orr[0][s]!r}" for s in bad)
            raise AssertionError(f"{where}: thermal rate differs: {detail}")
        if not np.array_equal(er[1], orr[1]):
            bad = np.nonzero(er[1] != orr[1])[0][:6]
            split = lambda b: f"matrix {b & O.COUNT_MASK} soft {b >> O.SOFT_SHIFT}"
            detail = ", ".join(f"{self.site_name(s)} engine {split(int(er[1][s]))} oracle "
                               f"{split(int(orr[1][s]))}" for s in bad)
            raise AssertionError(f"{where}: creep count differs: {detail}")
        if not np.array_equal(er[4], orr[4]):
            bad = np.nonzero(er[4] != orr[4])[0][:6]
            top = lambda c: phases.NAMES[o.top_phase(c)]
            detail = ", ".join(f"column {c} (top {top(c)}) engine {er[4][c]} oracle {orr[4][c]}"
                               for c in bad)
            raise AssertionError(f"{where}: echem class differs: {detail}")
        assert er[2].shape == (O.NCLASS, e.ncol)
        if not np.array_equal(er[2], orr[2]):
            k, col = np.nonzero(er[2] != orr[2])
            raise AssertionError(f"{where}: class tree leaves differ at (class, column) "
                                 f"{list(zip(k[:6], col[:6]))}")
        assert er[3] == orr[3], f"{where}: top counts {er[3]} != {orr[3]}"
        assert er[5] == orr[5], f"{where}: class counts {er[5]} != {orr[5]}"
        assert e.class_counts() == o.class_counts()
        assert e.class_weights() == o.class_weights(), f"{where}: class weights"
        assert tuple(e.totals) == tuple(o.totals), f"{where}: totals {e.totals} {o.totals}"
        assert e.electrode_overpotential() == o.electrode_overpotential(), \
            f"{where}: eta {e.electrode_overpotential()!r} {o.electrode_overpotential()!r}"
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
        # seed loads: only seeds carry one, never above capacity
        ld = o.load
        assert np.all(ld[ost != O.SEED] == 0), f"{where}: load byte off a seed"
        assert np.all((ld & O.LOAD_MASK) <= ((ld >> O.CAP_SHIFT) & O.CAP_MASK)), \
            f"{where}: seed above capacity"
        self.max_dead = max(self.max_dead, e.n_dead)
        self.max_class = [max(a, b) for a, b in zip(self.max_class, e.class_counts())]
        if o.has_bridges and O.SOFT in ost:
            self.seen["soft tops"] += o.top_count[O.SOFT] > 0
            regime = o.contact_regime()
            if regime is not None:
                self.seen[regime] += 1
            if o.track_connectivity:
                self.seen["metal live through soft"] += o.live_only_through(O.SOFT) > 0
            if o.mode == O.PLATE:
                self.seen["soft top cut off (plate)"] += any(
                    o.top_phase(c) == O.SOFT and o.cls[c] == O.C_NONE for c in range(o.ncol))
        if o.creep_on and max(o.floor) > o.zc:
            # a gap at the top of a column whose settle only its floor refuses
            self.seen["settle stopped by floor"] += any(
                o.hh[c] <= o.floor[c] and o.top_phase(c) == O.EMPTY
                and o.window_max(c) <= o.hh[c] - 1 + o.step for c in range(o.ncol))
        if O.INTERPHASE in ost:
            self.seen["interphase tops"] += o.top_count[O.INTERPHASE] > 0
            if o.mode == O.PLATE:
                self.seen["interphase top cut off (plate)"] += any(
                    o.top_phase(c) == O.INTERPHASE and o.cls[c] == O.C_NONE
                    for c in range(o.ncol))
            if o.mode == O.STRIP:
                self.seen["interphase top blocks (strip)"] += any(
                    o.top_phase(c) == O.INTERPHASE and o.cls[c] == O.C_NONE
                    for c in range(o.ncol))
            self.seen["interphase stack >= 2"] += any(o.sei_stack(c)[1] >= 2
                                                      for c in range(o.ncol)
                                                      if 1 <= o.hh[c] <= o.nz)
            if o.track_connectivity and O.INTERPHASE in o.bridges:
                self.seen["metal live through interphase"] += (
                    o.live_only_through(O.INTERPHASE) > 0)
            if o.film_attached:
                # an attached film is the electrolyte's face: only ever a column's top stack
                self.seen["attached film off the top"] += any(
                    p == O.INTERPHASE and not o.film_settles(s) for s, p in enumerate(ost))

    def step(self, where, mode, max_events, target, t_stop, v_cutoff, echem_stop=-1):
        """One advance() call on both; compares the reasons and the whole state."""
        self.n_calls += 1
        n_dead = self.eng.n_dead
        weighted = sum(1 for w in self.orc.class_weights()[1:] if w > 0.0)
        searches = self.eng.n_connectivity_searches
        r_e = self.eng.advance(max_events, t_stop, target, v_cutoff, echem_stop)
        r_o = self.orc.advance(max_events, t_stop, target, v_cutoff, echem_stop)
        if max_events == 1 and (self.orc.last_event or "").startswith("sei"):
            self.sei_searches += self.eng.n_connectivity_searches - searches
        assert r_e == r_o, f"{where}: stop reason engine {STOP_REASONS[r_e]} " \
                           f"oracle {STOP_REASONS.get(r_o, r_o)}"
        if self.orc.last_event is not None:
            self.kinds[self.orc.last_event] += 1
        if self.orc.last_class is not None:
            name = CLASS_NAMES[self.orc.last_class]
            self.classes[name] += 1
            if weighted >= 2 and max_events == 1:
                self.multi_class[name] += 1
        self.check(where)
        if self.eng.n_dead > n_dead:
            self.dead_made[mode] += 1
            if max_events == 1 and (self.orc.last_event or "").startswith("sei"):
                self.dead_made["sei"] += 1
        elif self.eng.n_dead < n_dead:
            self.dead_revived[mode] += 1
        return r_e

    def half_cycle(self, mode, max_events, charge=None, t_stop=INF, v_cutoff=0.5):
        """Switch both to `mode` and run one event at a time until a stop; charge counts
        units in this half-cycle (None: no charge stop). Returns the stop reason."""
        self.eng.set_mode(mode)
        self.orc.set_mode(mode)
        self.check(f"set_mode({mode})")
        done = self.eng.n_plated if mode == "plate" else self.eng.n_stripped
        target = done + charge if charge is not None else 2 ** 62
        reason = NAMES["events"]
        for i in range(max_events):
            where = f"{mode} call {i} (event {self.eng.n_events + 1})"
            reason = self.step(where, mode, 1, target, t_stop, v_cutoff)
            if reason != NAMES["events"]:
                break
        self.reasons.append(STOP_REASONS[reason])
        print(mode, "->", self.summary())
        return reason

    def summary(self):
        return (f"events {self.eng.n_events} calls {self.n_calls} kinds {dict(self.kinds)} "
                f"classes {dict(self.classes)} multi {dict(self.multi_class)} "
                f"reasons {self.reasons} max_dead {self.max_dead} dead_made "
                f"{dict(self.dead_made)} revived {dict(self.dead_revived)} "
                f"in_seed {self.eng.n_in_seed} max_class {self.max_class} "
                f"seen {dict(self.seen)} "
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
    assert O.CLASSES == CLASSES
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


def test_lattice_zeros_alignment():
    """Engine arrays start zeroed on a cache line; from 2 MB up on a huge-page boundary (the
    engine asks for transparent huge pages there); the contents are plain numpy arrays."""
    from kmc._engine import HUGE, lattice_zeros
    for n, dtype in [(10, np.float64), (1000, np.uint8), (HUGE, np.uint8),
                     (HUGE // 4 + 3, np.intc), (HUGE // 8 * 3, np.float64)]:
        a = lattice_zeros(n, dtype)
        assert a.shape == (n,) and a.dtype == np.dtype(dtype) and not a.any()
        align = HUGE if a.nbytes >= HUGE else 64
        assert a.ctypes.data % align == 0, (n, dtype)
        a[:] = 1
        assert a.sum() == n


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
def test_thin_film_creep(dim):
    """Thin-film creep on (0.1 um voxels, creep length 1 um): every creep leaf is the column's
    move count times its film factor, which changes with the separator height."""
    over = dict(cell__stack_pressure_MPa=15.0, diffusion__self_diffusivity_cm2_s=1e-11,
                nucleation__interfacial_diffusivity_um2_s=0.1, run__seed=21 + dim,
                mechanics__thin_film_creep=True)
    pair = Pair.from_config(small_2d(**over) if dim == 2 else small_3d(**over))
    films = set()
    for _ in range(3 if dim == 2 else 2):
        pair.half_cycle("plate", 1200, charge=(4 if dim == 2 else 2) * pair.eng.ncol,
                        v_cutoff=10.0)
        films.update(pair.eng.film_arr.tolist())
        pair.half_cycle("strip", 1200, v_cutoff=0.6)
        films.update(pair.eng.film_arr.tolist())
    k = pair.kinds
    assert k["creep-settle"] > 0 and k["creep-vertical"] + k["creep-lateral"] > 0
    assert len(films) >= 3 and min(films) < 0.01      # several film thicknesses were met


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


@pytest.mark.parametrize("dim", [2, 3])
def test_adhesion_to_the_electrolyte(dim):
    """Adhesion on (diffusion.adhesion_eV): hop rates of voxels touching the electrolyte
    carry exp(-m E_adh / kT); plating and stripping move the separator, so contacts appear
    and vanish (with and without creep)."""
    kinds = Counter()
    for pressure in (0.0, 15.0):
        over = dict(cell__stack_pressure_MPa=pressure, diffusion__self_diffusivity_cm2_s=1e-10,
                    diffusion__adhesion_eV=0.05, mechanics__separator_max_step_um=0.2,
                    nucleation__interfacial_diffusivity_um2_s=0.1, run__seed=31 + dim)
        pair = Pair.from_config(small_2d(**over) if dim == 2 else small_3d(**over))
        assert pair.orc.adh[1] < 1.0
        pair.half_cycle("plate", 1200, charge=3 * pair.eng.ncol, v_cutoff=INF)
        pair.half_cycle("strip", 800, charge=2 * pair.eng.ncol, v_cutoff=INF)
        kinds.update(pair.kinds)
    assert kinds["hop"] > 100 and kinds["strip"] > 0 and kinds["plate"] > 0, kinds


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


# ---------------------------------------------------------------------- echem classes, seeds

def seeded_cfg(dim, material, pressure, seed, **over):
    """6 x 6 x 12 (3D) or 16 x 12 (2D) voxels with 150 nm of seed on the collector: one full
    seed layer and half a second one (seed stacks), capacities 1-2 (Ag, soluble, k_seed > 0,
    no riding) or 3-4 (Au, insoluble, k_seed = 0, about half riding)."""
    base = dict(lattice__dimension=dim, lattice__size_x_um=1.6 if dim == 2 else 0.6,
                lattice__size_y_um=0.6, lattice__headroom_um=1.1,
                protocol__current_density_mA_cm2=5.0, seed__material=material,
                seed__thickness_nm=150.0, seed__riding_fraction=0.5,
                cell__stack_pressure_MPa=pressure, diffusion__self_diffusivity_cm2_s=1e-11,
                diffusion__bond_energy_eV=ROUGH_BOND_EV,
                nucleation__interfacial_diffusivity_um2_s=0.1, run__seed=seed)
    base.update(over)
    return make_cfg(**base)


def test_seed_byte_layout():
    """The oracle's load byte layout is the engine's (kmc.lattice builds the seed layers)."""
    from kmc import lattice
    assert lattice.RIDE_BIT == O.RIDE_BIT and lattice.CAP_SHIFT == O.CAP_SHIFT
    assert O.seed_byte(3, 4, True) == 3 | 4 << 4 | 128


@pytest.mark.parametrize("dim,j0", [(2, 0.5), (3, 0.5), (2, 30.0)])
def test_bare_collector_class_mix(dim, j0):
    """Plating on bare Cu with no adatom motion: the first voxels leave most columns on the
    collector, so the metal and nucleation classes both hold weight and every echem event
    goes through eta_solve and the Butler-Volmer split. At j/j0 = 10 the electrode
    overpotential is well past the nucleation onset (both classes are picked); at
    j/j0 = 1/6 it falls below the onset once enough columns hold metal, and the nucleation
    class, though weighted, gets no share."""
    over = dict(kinetics__exchange_current_mA_cm2=j0, cell__stack_pressure_MPa=15.0,
                nucleation__interfacial_diffusivity_um2_s=0.0,
                diffusion__self_diffusivity_cm2_s=1e-12, run__seed=81 + dim)
    pair = Pair.from_config(small_2d(**over) if dim == 2 else small_3d(**over))
    e, o = pair.eng, pair.orc
    e.set_mode("plate")
    o.set_mode("plate")
    onset = o.onset[O.C_NUC]
    below = 0
    for i in range(3000):
        if e.n_plated >= 2 * e.ncol:
            break
        counts = o.class_counts()
        if counts[O.C_METAL] and counts[O.C_NUC] and o.eta_solve() < onset:
            below += 1
        assert pair.step(f"plate call {i}", "plate", 1, 2 ** 62, INF, 10.0) == NAMES["events"]
    print(pair.summary(), "below onset", below)
    assert e.n_plated >= 2 * e.ncol
    if j0 < 1.0:
        assert pair.multi_class["nucleation"] > 2 and pair.multi_class["metal"] > 2
    else:
        assert below > 10 and pair.multi_class["metal"] > 10


def seeded_pair(dim, material, pressure, seed, **over):
    if pressure == 0.0:         # (slower hops: without creep they dominate the events)
        over.setdefault("mechanics__separator_max_step_um", 0.3)
        over.setdefault("diffusion__self_diffusivity_cm2_s", 1e-12)
    pair = Pair.from_config(seeded_cfg(dim, material, pressure, seed, **over))
    e, o = pair.eng, pair.orc
    assert e.has_bridges and e.n_in_seed == 0
    seeds = e.load_arr[e.state_arr == O.SEED]
    caps = set(((seeds >> O.CAP_SHIFT) & O.CAP_MASK).tolist())
    riding = np.count_nonzero(seeds & O.RIDE_BIT) / len(seeds)
    if material == "Ag":        # soluble: exchanges with the metal, never rides
        assert o.k_seed > 0.0 and caps == {1, 2} and riding == 0.0
    else:                       # insoluble, about half of the seeds ride
        assert o.k_seed == 0.0 and caps == {3, 4} and 0.3 < riding < 0.7
    return pair


@pytest.mark.parametrize("pressure", [15.0, 0.0])
@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("material", ["Ag", "Au"])
def test_seeded_plate_strip(material, dim, pressure):
    """A 150 nm seed film (one layer and half of a second: seed stacks) plated through its
    alloy capacity and beyond, then stripped until no column can pass current: alloying,
    plating on or under full seeds, stripping under seeds, both release plateaus, seed
    exchanges with the metal (Ag), riding particles moving along the face (Au) and seeds
    pressed into voids by creep."""
    pair = seeded_pair(dim, material, pressure, 90 + dim + (0 if pressure else 4)
                       + (0 if material == "Ag" else 8),
                       seed__particle_diffusivity_cm2_s=1e-10)   # (Au: particles move often)
    e = pair.eng
    # the film's capacity and one more layer; without creep three quarters of the capacity
    # (a column whose top is stripped then stays open: seeds under metal never release, but
    # some seeds fill up early and take metal on or under them)
    ld = e.load_arr[e.state_arr == O.SEED]
    capacity = int(np.sum((ld >> O.CAP_SHIFT) & O.CAP_MASK))
    charge = capacity + e.ncol if pressure else 3 * capacity // 4
    reason = pair.half_cycle("plate", 4000, charge=charge, v_cutoff=10.0)
    assert STOP_REASONS[reason] in ("charge", "overflow")     # (riding seeds climb fast)
    reason = pair.half_cycle("strip", 4000, v_cutoff=10.0)
    assert STOP_REASONS[reason] in ("voltage", "no_events")
    assert e.class_counts()[O.C_NONE] == e.ncol and e.voltage() == INF
    k = pair.kinds
    assert k["alloy"] > 0 and k["release1"] + k["release2"] > 0
    if pressure:
        assert k["release1"] > 0 and k["release2"] > 0
    if material == "Ag":
        assert k["seed-swap"] > 0 and k["plate-under-seed"] == 0 and k["strip-under-seed"] > 0
        assert "strip-under-riding-seed" not in k and "creep-seed-settle" not in k
        if pressure:
            assert k["creep-seed-drop"] > 0
    else:
        # riding seeds stay the electrolyte's face: plated and stripped under, carried up
        # by the separator's lift and down with it
        assert k["seed-swap"] == 0 and k["plate-under-seed"] > 0
        assert k["strip-under-riding-seed"] > 0 and k["seed-ride"] > 0
        if pressure:
            assert pair.orc.seed_lifts > 0 and k["creep-seed-settle"] > 0


def seeded_random_lattice(rng, nx, ny, nz, zc, step, fill, seed_share):
    """random_lattice with a share of its metal and void sites turned into seeds, each with
    a random capacity (0-7), load (up to it) and riding flag: seed stacks, seeds over voids,
    seeds in dead clusters, seeds joined only sideways."""
    state, h = random_lattice(rng, nx, ny, nz, zc, step, 1, fill)
    load = np.zeros_like(state)
    for s in range(len(state)):
        if state[s] in (O.METAL, O.EMPTY) and rng.random() < seed_share:
            cap = int(rng.integers(0, 8))
            state[s] = O.SEED
            load[s] = O.seed_byte(int(rng.integers(0, cap + 1)), cap, rng.random() < 0.5)
    return state, h, load


def random_factors(rng, ncol):
    return rng.uniform(0.2, 3.0, ncol)


@pytest.mark.parametrize("track", [True, False])
@pytest.mark.parametrize("dim", [2, 3])
def test_prebuilt_seeded_lattice(dim, track):
    """Random porous deposits with random seeds (and random local factors), all channels:
    the connectivity through seeds (dead clusters revived or killed through them), seed
    stacks releasing through the seeds above, seeds dropping into voids and exchanging
    with metal. Load bytes given on non-seed sites are dropped at load."""
    cfg = (small_2d if dim == 2 else small_3d)(cell__stack_pressure_MPa=15.0,
                                              diffusion__self_diffusivity_cm2_s=1e-11)
    shape = (10, 1, 12, 1, 2) if dim == 2 else (5, 4, 10, 1, 2)
    nx, ny = shape[0], shape[1]
    # (echem_rate x 20: creep through the many voids would otherwise leave little current)
    params = engine_params(cfg, Units(cfg), nx * ny)
    params.update(k_seed=0.5, k_ride=5.0, ride_bond=1.0,
                  onset=[0.0, 0.0, 0.018, 0.07, 0.16, 0.0, 0.0],
                  echem_rate=20 * params["echem_rate"])
    rng = np.random.default_rng(105 + dim)
    state, h, load = seeded_random_lattice(rng, *shape, fill=0.5 if dim == 2 else 0.35,
                                           seed_share=0.2)
    load[state != O.SEED] = rng.integers(0, 256, int(np.sum(state != O.SEED)))
    pair = Pair.from_lattice(shape, params, 101 + dim, state, h, load,
                             random_factors(rng, nx * ny), track_connectivity=track)
    assert pair.eng.n_in_seed > 0 and np.all(pair.eng.load_arr[state != O.SEED] == 0)
    assert (pair.eng.n_dead > 0) == track
    # (no voltage stop: most tops are voids or dead metal until creep closes the gaps)
    pair.half_cycle("strip", 400, v_cutoff=INF)
    pair.half_cycle("rest", 100)
    pair.half_cycle("plate", 400, v_cutoff=INF)
    pair.half_cycle("strip", 400, v_cutoff=INF)
    k = pair.kinds
    assert k["seed-swap"] > 0 and k["creep-seed-drop"] > 0 and k["strip-under-seed"] > 0
    assert k["alloy"] + k["plate-under-seed"] > 0 and k["release1"] > 0 and k["release2"] > 0
    if dim == 2:                       # (few riding tops with partners in the 3D lattice)
        assert k["seed-ride"] > 0      # riding particles moving along the face
    if track:
        assert pair.dead_made["strip"] > 0 and pair.dead_made["plate"] > 0


@pytest.mark.parametrize("dim", [2, 3])
def test_local_factors(dim):
    """Non-uniform local current factors, set at load and renewed (random, positive) each
    time advance() stops on its echem cadence (echem_stop), as the runner's potential
    solver does: class weights, the overpotential solve and the column choice follow them
    exactly. Batches of events per call, so that the echem stop comes inside a batch."""
    pair = seeded_pair(dim, "Au", 15.0, 110 + dim)
    e, o = pair.eng, pair.orc
    rng = np.random.default_rng(120 + dim)
    lf = random_factors(rng, e.ncol)
    e.set_local_factors(lf)
    o.set_local_factors(lf)
    pair.check("set_local_factors")
    assert np.array_equal(e.lf_arr, lf)
    n_echem_stops = 0
    for mode, charge in (("plate", 2 * e.ncol + 30), ("strip", 10 ** 6)):
        e.set_mode(mode)
        o.set_mode(mode)
        pair.check(f"set_mode({mode})")
        done = e.n_plated if mode == "plate" else e.n_stripped
        cadence = 5
        echem_stop = e.n_echem + cadence
        for call in range(1500):
            r = pair.step(f"{mode} call {call}", mode, 5, done + charge, INF, 10.0, echem_stop)
            if STOP_REASONS[r] == "echem":
                assert e.n_echem == echem_stop
                n_echem_stops += 1
                echem_stop += cadence
                lf = random_factors(rng, e.ncol)
                e.set_local_factors(lf)
                o.set_local_factors(lf)
                pair.check(f"{mode} call {call}: new local factors")
            elif STOP_REASONS[r] != "events":
                break
        pair.reasons.append(STOP_REASONS[r])
        print(mode, "->", pair.summary())
    assert n_echem_stops > 20
    assert pair.reasons == ["charge", "voltage"]
    assert pair.classes["release1"] > 0 and pair.classes["release2"] > 0


@pytest.mark.parametrize("case", ["Ag-2", "Ag-3", "Au-2", "Au-3", "random-2", "random-3",
                                  "soft-2", "soft-3", "softrandom-2", "softrandom-3",
                                  "seimixed-2", "seimixed-3", "seielectronic-2",
                                  "seielectronic-3", "seirandom-2", "seirandom-3"])
def test_rebuild_matches_incremental(case):
    """Engine alone, many events, never rebuilt: before every event its incrementally kept
    rates, classes, class trees, counts, connectivity labels and overpotential equal those
    of a twin engine rebuilt from its lattice (load_lattice), and the inventory holds (soft
    voxels hold no metal units, interphase voxels hold the metal they consumed). The twin
    then runs the same event from the same random stream: same stop reason, clock, lattice
    and counters, which also checks the trees the engine keeps private (soft creep,
    interphase growth) through the rates they feed. Every 250 events the engine's own
    rebuild() must change nothing. Cases: seed films, random porous deposits with seeds, an
    electrode with soft domains, random porous deposits with soft voxels and seeds, plated
    metal growing a mixed or an electronic interphase, random porous deposits with
    interphase, soft voxels and seeds (2D mixed, 3D electronic interphase)."""
    kind, dim = case.split("-")
    dim = int(dim)
    rng = np.random.default_rng(130 + dim + len(kind))
    if kind in ("random", "softrandom", "seirandom"):
        cfg = (small_2d if dim == 2 else small_3d)(cell__stack_pressure_MPa=15.0,
                                                  diffusion__self_diffusivity_cm2_s=1e-11,
                                                  mechanics__thin_film_creep=kind == "random")
        shape = (10, 1, 12, 1, 2) if dim == 2 else (5, 4, 10, 1, 2)
        nx, ny, nz, zc, step = shape
        if kind == "random":
            params = dict(engine_params(cfg, Units(cfg), nx * ny), k_seed=0.5, k_ride=0.5,
                          ride_bond=1.0, onset=[0.0, 0.0, 0.018, 0.07, 0.16, 0.0, 0.0])
            state, h, load = seeded_random_lattice(rng, *shape, fill=0.5, seed_share=0.25)
        elif kind == "softrandom":
            params = soft_params(cfg, nx * ny)
            state, h, load = soft_random_lattice(rng, *shape, fill=0.6, soft_share=0.25,
                                                 seed_share=0.1)
        else:
            params = interphase_params(cfg, nx * ny, "mixed" if dim == 2 else "electronic",
                                       sei_k=20.0)
            state, h, load = interphase_random_lattice(rng, *shape, fill=0.7, sei_share=0.2,
                                                       soft_share=0.15, seed_share=0.1)

        def make(bitgen):
            return Engine(nx, ny, nz, zc, step, params, bitgen)
        eng = make(bit_generator(140 + dim))
        eng.load_lattice(state, h, load, random_factors(rng, nx * ny))
    else:
        if kind == "soft":
            cfg = soft_cfg(dim, 15.0, 150 + dim, lattice__headroom_um=2.0)
        elif kind.startswith("sei"):
            cfg = interphase_cfg(dim, kind[3:], 160 + dim, electrode__initial_metal_um=0.3)
        else:
            cfg = seeded_cfg(dim, kind, 15.0, 150 + dim)

        def make(bitgen):
            return build_engine(cfg, bitgen=bitgen)[0]
        eng = make(bit_generator(cfg["run"]["seed"]))
        if kind == "soft":
            assert eng.has_bridges and np.any(eng.state_arr == O.SOFT)
    twin = make(bit_generator(0))
    inventory0 = eng.n_metal + eng.n_dead + eng.n_in_seed
    interphase0 = eng.n_interphase
    assert eng.has_bridges          # (seeds, soft voxels or a conducting interphase)

    def snapshot(e):
        r = e.rates_snapshot()
        return dict(state=e.state_arr.copy(), load=e.load_arr.copy(), h=e.h_arr.copy(),
                    window_max=e.wmax_arr.copy(),
                    thermal=r[0], creep=r[1], class_leaves=r[2], top=r[3], cls=r[4],
                    n_class=r[5], counts=(e.n_metal, e.n_dead, e.n_in_seed, e.n_interphase),
                    weights=e.class_weights(), eta=e.electrode_overpotential(),
                    totals=tuple(e.totals), has_bridges=e.has_bridges)

    def compare(inc, ref, where, what):
        for key in inc:
            same = (np.array_equal(inc[key], ref[key]) if isinstance(inc[key], np.ndarray)
                    else inc[key] == ref[key])
            assert same, f"{where}: {key} differs from {what}"

    n_events = 0
    most = Counter()        # most columns seen in the soft and interphase classes
    for mode in ("plate", "strip", "rest") * 12:
        if n_events >= 4000:
            break
        eng.set_mode(mode)
        target = (eng.n_plated if mode == "plate" else eng.n_stripped) + 6 * eng.ncol
        for _ in range(1000 if mode != "rest" else 200):
            where = f"{case} {mode} event {eng.n_events + 1}"
            check_twin(eng, twin, mode, where, snapshot, compare, n_events % 250 == 0)
            r_e = eng.advance(1, INF, target, INF)
            r_t = twin.advance(1, INF, target, INF)
            assert r_e == r_t, f"{where}: stop reason {r_e} != {r_t} (twin)"
            assert eng.get_counters() == twin.get_counters(), \
                f"{where}: counters {eng.get_counters()} != {twin.get_counters()} (twin)"
            assert np.array_equal(eng.state_arr, twin.state_arr), f"{where}: lattice (twin)"
            assert eng.bitgen.state == twin.bitgen.state, f"{where}: stream (twin)"
            # (the cases built from the Li defaults grow LPSC's thin interphase: consumed)
            made = eng.n_interphase - interphase0 + eng.n_consumed
            assert made == eng.n_sei, f"{where}: interphase voxels {made} n_sei {eng.n_sei}"
            assert (eng.n_plated - eng.n_stripped + inventory0
                    == eng.n_metal + eng.n_dead + eng.n_in_seed + made), f"{where}: inventory"
            n_events += 1
            counts = eng.class_counts()
            most["soft"] = max(most["soft"], counts[O.C_SOFT])
            most["interphase"] = max(most["interphase"], counts[O.C_SEI])
            if STOP_REASONS[r_e] != "events":
                break
    print(case, eng.get_counters(), dict(most))
    assert n_events >= 4000 and eng.n_stripped > 0 and eng.n_plated > 0
    assert (most["soft"] > 0) == (kind in ("soft", "softrandom", "seirandom"))
    assert (eng.n_sei > eng.n_consumed) == kind.startswith("sei")
    assert (most["interphase"] > 0) == (kind == "seimixed" or case == "seirandom-2")


# ---------------------------------------------------------------------- soft phase

def soft_cfg(dim, pressure, seed, **over):
    """A metal electrode on the collector, 1.0 um (2D: 10 layers in 24 x 15 voxels) or 0.8 um
    thick (3D: 8 layers in 6 x 6 x 13 voxels), with 20 mol % of soft domains 0.15-0.4 um
    across (about a third of its volume); strip-only protocol (plate capacity 0). Slow hops
    (D = 1e-12 cm2/s, the soft phase's too: its own diffusivity would make soft hops most of
    the events); the soft phase carries a tenth of the bare metal's exchange current (the
    default gain)."""
    base = dict(lattice__dimension=dim, lattice__size_x_um=2.4 if dim == 2 else 0.6,
                lattice__size_y_um=0.6, lattice__headroom_um=1.2 if dim == 3 else 1.4,
                protocol__current_density_mA_cm2=5.0, protocol__plate_capacity_mAh_cm2=0.0,
                electrode__initial_metal_um=0.8 if dim == 3 else 1.0,
                electrode__soft_mol_percent=20.0,
                electrode__soft_domain_min_um=0.15, electrode__soft_domain_max_um=0.4,
                cell__stack_pressure_MPa=pressure, diffusion__self_diffusivity_cm2_s=1e-12,
                diffusion__bond_energy_eV=ROUGH_BOND_EV, soft__self_diffusivity_cm2_s=1e-12,
                soft__relative_exchange_current=0.4,
                soft__internal_stress_MPa=0.0,
                nucleation__interfacial_diffusivity_um2_s=0.1, run__seed=seed)
    base.update(over)
    return make_cfg(**base)


def soft_pair(dim, pressure, seed, **over):
    pair = Pair.from_config(soft_cfg(dim, pressure, seed, **over))
    e, o = pair.eng, pair.orc
    n_soft = int(np.count_nonzero(e.state_arr == O.SOFT))
    assert e.has_bridges and 0.2 < n_soft / (n_soft + e.n_metal) < 0.5
    assert o.gain[O.C_SOFT] == 0.4 and np.allclose(o.k_soft, o.k_bond, rtol=1e-12)
    return pair


@pytest.mark.parametrize("pressure", [15.0, 0.15])
@pytest.mark.parametrize("dim", [2, 3])
def test_soft_electrode_strip(dim, pressure):
    """Stripping a metal electrode with soft domains: the metal under soft films strips
    through them (class soft, picked against the bare metal class at its reduced exchange
    current), both creep channels run (soft voxels drop into voids, flow sideways, also from
    the tops, the separator settles onto them), metal stays live through soft voxels, and
    the contact pressure is shared between soft and hard contacts. At 15 MPa the soft
    contacts always yield: their load goes to the hard ones ('shared') or, once every loaded
    top is soft, both laws read P / f ('soft only'). At 0.15 MPa (soft creep ~40 x faster at
    yield, else it would hardly run) P / f stays below the soft yield strength while the
    loaded share is above 3/4."""
    if pressure > 1.0:
        pair, n = soft_pair(dim, pressure, 160), 3000
    else:
        pair = soft_pair(dim, pressure, 160, soft__creep_rate_at_yield_per_s=0.1,
                         mechanics__yield_strength_MPa=0.8)
        n = 2000 if dim == 2 else 1500
    pair.half_cycle("strip", n, v_cutoff=INF)
    k, seen = pair.kinds, pair.seen
    assert pair.eng.creep_on
    assert k["strip"] > 0 and k["strip-under-soft"] > 0 and k["hop"] > 0 and k["soft-hop"] > 0
    assert k["creep-lateral"] > 0 and k["creep-settle"] > 0
    assert (k["creep-soft-vertical"] > 0 and k["creep-soft-lateral"] > 0
            and k["creep-soft-settle"] > 0)
    assert pair.multi_class["soft"] > 10 and pair.multi_class["metal"] > 10
    assert pair.max_class[O.C_SOFT] > 0
    assert seen["shared"] > 0 and seen["soft only"] > 0 and seen["metal live through soft"] > 0
    if pressure > 1.0:
        assert k["creep-vertical"] > 0 and seen["below soft yield"] == 0
    else:
        assert seen["below soft yield"] > 0


@pytest.mark.parametrize("dim", [2, 3])
def test_soft_electrode_strip_without_pressure(dim):
    """The same electrode at 0 MPa and no internal stress in the soft domains: no creep
    (neither channel), stripping through soft films, soft and metal hops, dead metal cut off
    and revived through soft voxels."""
    pair = soft_pair(dim, 0.0, 160)
    e = pair.eng
    pair.half_cycle("strip", 2000, v_cutoff=INF)
    k = pair.kinds
    assert not e.creep_on and e.n_creep == 0 and e.totals[1] == 0.0
    assert k["strip"] > 0 and k["strip-under-soft"] > 0 and k["soft-hop"] > 0
    assert pair.multi_class["soft"] > 0 and pair.multi_class["metal"] > 0
    assert pair.dead_made["strip"] > 0 and pair.dead_revived["strip"] > 0
    assert pair.seen["metal live through soft"] > 0 and "shared" not in pair.seen


@pytest.mark.parametrize("dim", [2, 3])
def test_soft_electrode_strip_internal_stress(dim):
    """At 0 MPa with the soft domains held at an internal stress: the soft phase creeps
    (drops, flows sideways, the separator settles onto it) at the rate of that stress,
    the matrix does not (no stack pressure, no matrix creep), event for event."""
    pair = soft_pair(dim, 0.0, 160, soft__internal_stress_MPa=0.2)
    e, o = pair.eng, pair.orc
    pair.half_cycle("strip", 2000, v_cutoff=INF)
    k = pair.kinds
    assert e.creep_on and o.creep_rate(False) == 0.0
    assert o.creep_rate(True) == pytest.approx(min(o.soft_eps_y * o.ell_over_a, o.creep_cap))
    assert k["creep-lateral"] == k["creep-settle"] == k["creep-vertical"] == 0
    assert k["creep-soft-lateral"] > 0 and k["creep-soft-settle"] > 0
    assert k["strip-under-soft"] > 0 and k["soft-hop"] > 0


@pytest.mark.parametrize("dim", [2, 3])
def test_plate_onto_soft(dim):
    """Strip the electrode (15 MPa) until soft films cover a third of the interface, then
    plate onto it: a soft top that is live through its bridge stack takes the new metal on
    top (class metal), one that is not takes none; then strip again, through the new metal
    and the soft films under it."""
    pair = soft_pair(dim, 15.0, 181)
    e, o = pair.eng, pair.orc
    e.set_mode("strip")
    o.set_mode("strip")
    for i in range(3000):
        if o.top_count[O.SOFT] >= e.ncol // 3 and e.n_stripped >= 2 * e.ncol:
            break
        pair.step(f"strip call {i}", "strip", 1, 2 ** 62, INF, INF)
    assert o.top_count[O.SOFT] >= e.ncol // 3
    pair.half_cycle("plate", 4000, charge=2 * e.ncol, v_cutoff=INF)
    pair.half_cycle("strip", 4000, charge=3 * e.ncol, v_cutoff=INF)
    k = pair.kinds
    assert k["plate-on-soft"] > 0 and k["plate"] > 0 and k["strip-under-soft"] > 0
    assert pair.reasons == ["charge", "charge"]
    assert pair.seen["soft top cut off (plate)"] > 0


def soft_random_lattice(rng, nx, ny, nz, zc, step, fill, soft_share, seed_share=0.0):
    """random_lattice (with seeds when seed_share > 0) with a share of its metal and void
    sites turned into soft voxels: soft stacks, soft over voids, soft in dead clusters,
    soft joining metal sideways, soft and seed stacks mixed."""
    state, h, load = seeded_random_lattice(rng, nx, ny, nz, zc, step, fill, seed_share)
    for s in range(len(state)):
        if state[s] in (O.METAL, O.EMPTY) and rng.random() < soft_share:
            state[s] = O.SOFT
    return state, h, load


def soft_params(cfg, ncol, **over):
    """engine_params with a faster echem channel, soft creep ~200 x faster at yield, soft
    hops twice as fast as the metal's and a soft exchange current of 0.4 j0."""
    params = engine_params(cfg, Units(cfg), ncol)
    params.update(k_seed=0.5, onset=[0.0, 0.0, 0.018, 0.07, 0.16, 0.0, 0.0],
                  gain=[1.0, 1.0, 1.0, 1.0, 1.0, 0.4, 1.0], echem_rate=200 * params["echem_rate"],
                  soft_eps_y=0.5, k_soft=[2 * k for k in params["k_bond"]])
    params.update(over)
    return params


@pytest.mark.parametrize("dim", [2, 3])
def test_soft_hops_only(dim):
    """Thermal channel alone, soft voxels only: no metal hops (k_bond = 0), no seeds, no
    creep (0 MPa, no internal stress), at rest. Soft voxels wander through a porous dead-and-live deposit and
    take its connectivity with them: dead metal revived by a soft voxel arriving, live
    metal killed by one leaving."""
    cfg = (small_2d if dim == 2 else small_3d)(cell__stack_pressure_MPa=0.0,
                                              soft__internal_stress_MPa=0.0,
                                              diffusion__self_diffusivity_cm2_s=1e-11)
    shape = (10, 1, 12, 1, 2) if dim == 2 else (5, 4, 10, 1, 2)
    nx, ny = shape[0], shape[1]
    params = soft_params(cfg, nx * ny, k_bond=[0.0] * 7, k_seed=0.0)
    rng = np.random.default_rng(192)
    state, h, _ = soft_random_lattice(rng, *shape, fill=0.4 if dim == 2 else 0.3,
                                      soft_share=0.2 if dim == 2 else 0.15)
    pair = Pair.from_lattice(shape, params, 193, state, h)
    assert pair.eng.has_bridges and pair.eng.n_dead > 0
    pair.half_cycle("rest", 1500)
    assert set(pair.kinds) == {"soft-hop"} and pair.kinds["soft-hop"] == 1500
    assert pair.dead_made["rest"] > 0 and pair.dead_revived["rest"] > 0
    assert pair.seen["metal live through soft"] > 0


@pytest.mark.parametrize("track", [True, False])
@pytest.mark.parametrize("dim", [2, 3])
def test_prebuilt_soft_lattice(dim, track):
    """Random porous deposits with soft voxels and seeds (soft and seed stacks mixed), random
    local factors, all channels, plating and stripping: bridges of both kinds carry the
    connectivity and the liveness of the tops, soft stacks lying on metal, seeds or voids."""
    cfg = (small_2d if dim == 2 else small_3d)(cell__stack_pressure_MPa=15.0,
                                              diffusion__self_diffusivity_cm2_s=1e-11)
    shape = (10, 1, 12, 1, 2) if dim == 2 else (5, 4, 10, 1, 2)
    nx, ny = shape[0], shape[1]
    params = soft_params(cfg, nx * ny)
    rng = np.random.default_rng(200 + dim + 2 * track)
    state, h, load = soft_random_lattice(rng, *shape, fill=0.7, soft_share=0.3,
                                         seed_share=0.15)
    pair = Pair.from_lattice(shape, params, 201 + dim, state, h, load,
                             random_factors(rng, nx * ny), track_connectivity=track)
    for mode in ("strip", "plate", "strip"):
        pair.half_cycle(mode, 500, v_cutoff=INF)
    k = pair.kinds
    assert k["strip-under-soft"] > 0 and k["plate-on-soft"] > 0 and k["soft-hop"] > 0
    assert k["creep-soft-lateral"] > 0 and k["creep-soft-vertical"] > 0
    assert k["release1"] + k["release2"] + k["alloy"] > 0
    assert pair.seen["shared"] > 0
    if track:
        assert pair.seen["metal live through soft"] > 0


@pytest.mark.parametrize("kind, porosity, sei", [("foil", 0.0, "none"),
                                                 ("pellet", 0.25, "none"),
                                                 ("foil", 0.0, "mixed")])
def test_rough_collector_with_floor(kind, porosity, sei):
    """Li on a rough rigid foil (gaps over the valleys) or a porous pellet: the separator's
    floor stops settles, metal creeps into valleys and pores; also with a mixed interphase
    growing on the metal (0.3 um2/h: a bare column reacts at about 2/3 of its plating rate
    at 1 mA/cm2)."""
    over = dict(collector__kind=kind, collector__porosity=porosity,
                collector__roughness_um=0.2, collector__pore_um=0.2, collector__depth_um=0.3,
                cell__stack_pressure_MPa=10.0, protocol__current_density_mA_cm2=1.0,
                interphase__kind=sei, interphase__parabolic_um2_h=0.3,
                run__seed=21 if sei == "none" else 23)   # (23: films settle above the floor)
    pair = Pair.from_config(small_2d(**over))
    floor = pair.eng.floor_arr.copy()
    assert floor.max() > pair.eng.zc
    pair.cycles(2, plate_voxels=3 * pair.eng.ncol, max_events=3000 if sei == "none" else 1500,
                v_cutoff=2.0)
    assert (pair.eng.h_arr >= floor).all()
    k = pair.kinds
    assert k["plate"] > 0 and k["strip"] > 0 and k["creep-settle"] > 0
    assert pair.seen["settle stopped by floor"] > 0
    if sei != "none":
        assert k["sei"] > 0 and k["plate-under-interphase"] > 0 and k["creep-film-settle"] > 0


# ---------------------------------------------------------------------- interphase (SEI)

def interphase_cfg(dim, kind, seed, **over):
    """small_2d / small_3d at 15 MPa with slow hops and an interphase of `kind`, fast
    enough to compete with plating (5 mA/cm2 of Li plates ~24 um/h)."""
    base = dict(interphase__kind=kind, cell__stack_pressure_MPa=15.0,
                diffusion__self_diffusivity_cm2_s=1e-11, diffusion__bond_energy_eV=ROUGH_BOND_EV,
                mechanics__yield_strength_MPa=WEAK_CONTACT_YIELD_MPA,
                nucleation__interfacial_diffusivity_um2_s=0.1, run__seed=seed)
    if kind == "mixed":
        base.update(interphase__parabolic_um2_h=1.0,
                    interphase__relative_exchange_current=0.5)
    else:
        base.update(interphase__velocity_um_h=20.0 if kind == "electronic" else 10.0)
    base.update(over)
    return (small_2d if dim == 2 else small_3d)(**base)


@pytest.mark.parametrize("dim", [2, 3])
def test_interphase_mixed(dim):
    """A mixed (ion-conducting, electron-leaking) interphase growing parabolically on plated
    metal: bare metal tops react, an interphase stack on live metal keeps growing at
    sei_k / (1 + n) (stacks of two and more); it carries ions, not the cell current: metal
    plates under it (the film rides up) and strips through it (class interphase, at half
    the exchange current, picked against bare metal), leaving a void under the film that
    closes as film and separator come down together; the film stays its column's top
    stack throughout (no metal ever gets between it and the electrolyte)."""
    pair = Pair.from_config(interphase_cfg(dim, "mixed", 220 + dim))
    e, o = pair.eng, pair.orc
    assert o.sei_k > 0.0 and not o.sei_linear and o.sei_ionic
    assert O.INTERPHASE not in o.bridges and O.INTERPHASE in o.stacked
    assert o.gain[O.C_SEI] == 0.5 and e.has_bridges
    pair.cycles(3 if dim == 2 else 2, plate_voxels=4 * e.ncol,
                max_events=1200 if dim == 2 else 2000, v_cutoff=0.6)
    k, seen = pair.kinds, pair.seen
    assert k["sei"] > 0 and k["sei-under-interphase"] > 0
    assert k["plate"] > 0 and k["plate-under-interphase"] > 0 and "plate-on-interphase" not in k
    assert k["strip"] > 0 and k["strip-under-interphase"] > 0
    # (plating under a film on the bare collector is class nucleation)
    assert (k["strip-under-interphase"] < pair.classes["interphase"]
            <= k["strip-under-interphase"] + k["plate-under-interphase"])
    assert pair.multi_class["interphase"] > 0 and pair.multi_class["metal"] > 0
    assert seen["interphase stack >= 2"] > 0 and k["creep-film-settle"] > 0
    assert seen["interphase tops"] > 0 and seen["attached film off the top"] == 0
    assert o.film_lifts > 0                 # films carried up by the separator's lift
    assert e.n_sei == k["sei"] + k["sei-under-interphase"]


@pytest.mark.parametrize("dim", [2, 3])
def test_interphase_electronic(dim):
    """An electronic (electron-only) interphase growing linearly: metal plated on top of it
    stays live through it and reacts in turn, the metal under an interphase stack keeps
    reacting at the full rate; it carries no ions, so an interphase top takes no stripping
    current (no interphase class ever); film voxels are pressed into voids under them, and
    an interphase top cut off from live metal takes no plating."""
    pair = Pair.from_config(interphase_cfg(dim, "electronic", 230 + dim))
    e, o = pair.eng, pair.orc
    assert o.sei_linear and not o.sei_ionic and O.INTERPHASE in o.bridges
    pair.cycles(3 if dim == 2 else 2, plate_voxels=4 * e.ncol,
                max_events=1200 if dim == 2 else 2000, v_cutoff=0.6)
    k, seen = pair.kinds, pair.seen
    assert k["sei"] > 0 and k["sei-under-interphase"] > 0
    assert k["plate"] > 0 and k["plate-on-interphase"] > 0 and k["strip"] > 0
    assert "interphase" not in pair.classes and pair.max_class[O.C_SEI] == 0
    assert seen["interphase stack >= 2"] > 0 and seen["metal live through interphase"] > 0
    assert seen["interphase top blocks (strip)"] > 0
    assert seen["interphase top cut off (plate)"] > 0 and k["creep-film-drop"] > 0
    assert pair.sei_searches == 0 and pair.dead_made["sei"] == 0


@pytest.mark.parametrize("kind", ["mixed", "electronic", "thin"])
def test_interphase_growth_alone(kind):
    """At rest with no hops, no adatoms and no creep, interphase growth is the only channel:
    a 0.3 um electrode turns into interphase down to the collector (the growth goes on
    under the conducting interphase stacks), then nothing can happen (no_events). A thin
    interphase consumes the top voxel of each column and stops: without creep nothing
    brings the metal below back into contact."""
    cfg = interphase_cfg(2, kind, 260, electrode__initial_metal_um=0.3,
                         cell__stack_pressure_MPa=0.0, diffusion__self_diffusivity_cm2_s=0.0,
                         nucleation__interfacial_diffusivity_um2_s=0.0)
    pair = Pair.from_config(cfg)
    e = pair.eng
    metal0 = e.n_metal
    assert metal0 == 3 * e.ncol and e.totals[0] == 0.0 and not e.creep_on
    assert pair.half_cycle("rest", 10 * metal0) == NAMES["no_events"]
    if kind == "thin":
        assert set(pair.kinds) == {"sei-thin"} and e.n_interphase == 0
        assert e.n_consumed == e.n_sei == e.n_events == e.ncol == metal0 - e.n_metal
        return
    assert set(pair.kinds) == {"sei", "sei-under-interphase"}
    assert e.n_metal == 0 and e.n_interphase == metal0 == e.n_sei == e.n_events
    assert pair.kinds["sei"] == e.ncol


@pytest.mark.parametrize("dim", [2, 3])
def test_interphase_thin(dim):
    """A thin interphase (LPSC's, nm): metal touching the electrolyte is consumed at a
    constant rate per column, leaving a gap the separator closes by creep; no film voxel
    ever appears, plating and stripping go on as on bare metal, and the consumed metal is
    its own inventory line (checked after every event)."""
    pair = Pair.from_config(interphase_cfg(dim, "thin", 240 + dim))
    e, o = pair.eng, pair.orc
    assert o.sei_thin and o.sei_linear and not o.sei_ionic and not o.sei_electronic
    assert O.INTERPHASE not in o.bridges and O.INTERPHASE not in o.stacked
    assert not e.has_bridges
    pair.cycles(3 if dim == 2 else 2, plate_voxels=4 * e.ncol,
                max_events=1200 if dim == 2 else 2000, v_cutoff=0.6)
    k = pair.kinds
    assert k["sei-thin"] > 0 and k["plate"] > 0 and k["strip"] > 0
    assert k["creep-settle"] > 0
    assert not any(name.endswith("interphase") for name in k) and "sei" not in k
    assert e.n_interphase == 0 and e.n_consumed == k["sei-thin"] == e.n_sei
    assert "interphase" not in pair.classes


def interphase_random_lattice(rng, nx, ny, nz, zc, step, fill, sei_share, soft_share,
                              seed_share):
    """soft_random_lattice (with seeds) with a share of its metal and void sites turned into
    interphase: interphase stacks on metal, voids, soft voxels and seeds, interphase in dead
    clusters and as their only link to live metal."""
    state, h, load = soft_random_lattice(rng, nx, ny, nz, zc, step, fill, soft_share,
                                         seed_share)
    for s in range(len(state)):
        if state[s] in (O.METAL, O.EMPTY) and rng.random() < sei_share:
            state[s] = O.INTERPHASE
    return state, h, load


SEI_VARIANTS = {
    "mixed": dict(sei_linear=False, sei_electronic=True, sei_ionic=True, sei_bridge=False),
    "electronic": dict(sei_linear=True, sei_electronic=True, sei_ionic=False, sei_bridge=True),
    # (not reachable from a config: an insulating interphase, whose growth cuts metal off,
    # and one that carries ions but no electrons)
    "insulating": dict(sei_linear=False, sei_electronic=False, sei_ionic=False,
                       sei_bridge=False),
    "ionic": dict(sei_linear=False, sei_electronic=False, sei_ionic=True, sei_bridge=False),
}


def interphase_params(cfg, ncol, variant, sei_k):
    return soft_params(cfg, ncol, sei_k=sei_k, gain=[1.0, 1.0, 1.0, 1.0, 1.0, 0.4, 0.7],
                       sei_thin=False, **SEI_VARIANTS[variant])


@pytest.mark.parametrize("dim, variant, track", [(2, "mixed", True), (3, "mixed", True),
                                                 (2, "electronic", True),
                                                 (3, "electronic", True),
                                                 (2, "mixed", False), (3, "electronic", False)])
def test_prebuilt_interphase_lattice(dim, variant, track):
    """Random porous deposits holding interphase, soft voxels and seeds (bridge stacks of
    all three kinds mixed, interphase as the only link of dead clusters), random local
    factors, all channels, strip / plate / strip, with fast interphase growth: the
    connectivity through a conducting interphase (dead clusters revived and killed through
    it), growth under interphase stacks lying on metal, seeds, soft voxels or voids, film
    voxels pressed down into the voids under them; also without connectivity tracking."""
    cfg = (small_2d if dim == 2 else small_3d)(cell__stack_pressure_MPa=15.0,
                                              diffusion__self_diffusivity_cm2_s=1e-11)
    shape = (10, 1, 12, 1, 2) if dim == 2 else (5, 4, 10, 1, 2)
    nx, ny = shape[0], shape[1]
    params = interphase_params(cfg, nx * ny, variant, sei_k=20.0)
    # coverage is pooled over three lattices (each compared event for event)
    k, seen, made, revived, max_dead, searches = Counter(), Counter(), Counter(), Counter(), 0, 0
    for rep in range(3):
        rng = np.random.default_rng(240 + dim + 10 * rep)
        state, h, load = interphase_random_lattice(rng, *shape, fill=0.7, sei_share=0.2,
                                                   soft_share=0.15, seed_share=0.1)
        pair = Pair.from_lattice(shape, params, 241 + dim + 10 * rep, state, h, load,
                                 random_factors(rng, nx * ny), track_connectivity=track)
        assert pair.eng.n_interphase > 0 and pair.eng.has_bridges
        for mode in ("strip", "plate", "strip"):
            pair.half_cycle(mode, 600, v_cutoff=INF)
        k.update(pair.kinds)
        seen.update(pair.seen)
        made.update(pair.dead_made)
        revived.update(pair.dead_revived)
        max_dead = max(max_dead, pair.max_dead)
        searches += pair.sei_searches
    assert k["sei"] > 0 and k["sei-under-interphase"] > 0
    assert k["strip"] > 0 and k["plate"] > 0
    assert k["plate-on-interphase" if variant == "electronic" else "plate-under-interphase"] > 0
    # (the electronic film, pressed into the voids under it, lands on live metal in these
    # lattices, so a cut-off top is rare there: test_interphase_electronic covers it)
    assert seen["interphase top cut off (plate)"] > 0 or variant == "electronic"
    if track:
        assert (seen["metal live through interphase"] > 0) == (variant == "electronic")
        assert sum(made.values()) > 0 and sum(revived.values()) > 0
    else:
        assert max_dead == 0
    if variant == "electronic":      # growth under a conducting film cuts nothing off
        assert searches == 0 and made["sei"] == 0
    assert (k["strip-under-interphase"] > 0) == (variant == "mixed")
    assert k["creep-film-drop"] > 0          # the separator presses film voxels into voids


def test_attached_film_is_the_electrolyte_face():
    """A mixed film at the top of a column is the electrolyte's face for the metal under
    it: that metal hops and creeps as if the separator sat on it. Column 2 of a flat Li
    deposit carries a one-voxel film (separator on the film) or no film (separator one
    voxel lower); its neighbour, column 3, has a void beside column 2's top metal. Every
    site below the film has the same hop rate and creep count both ways (the film is no
    bond; the metal under it does not flow sideways into the void, but column 4's metal,
    under load below its own top, does), in the engine and in the oracle."""
    cfg = small_2d(cell__stack_pressure_MPa=15.0)
    nx, nz, zc = 6, 8, 1
    params = interphase_params(cfg, nx, "mixed", sei_k=1.0)
    snaps = []
    for film in (True, False):
        state = np.full((nz, nx), O.ELECTROLYTE, dtype=np.uint8)
        state[0] = O.COLLECTOR
        state[1:5] = O.METAL
        state[3:5, 3] = O.EMPTY                     # void beside column 2's top metal
        h = np.full(nx, 5, dtype=np.intc)
        if film:
            state[4, 2] = O.INTERPHASE
        else:
            state[4, 2] = O.ELECTROLYTE
            h[2] = 4                                # the separator on the metal instead
        pair = Pair.from_lattice((nx, 1, nz, zc, 1), params, 7, state.reshape(-1), h)
        thermal, creep = pair.eng.rates_snapshot()[:2]
        below = slice(0, 4 * nx)                    # z = 0..3: everything under the film
        snaps.append((thermal[below], creep[below]))
        # the oracle agrees site by site
        orc = pair.orc
        for s in range(4 * nx):
            assert creep[s] == orc.creep_byte(s), s
            assert thermal[s] == pytest.approx(orc.thermal_rate(s), rel=1e-12), s
    # nor does the separator carry the film below its floor: with the floor of column 2
    # at the film's bottom, a void under the film does not close by a film settle
    state = np.full((nz, nx), O.ELECTROLYTE, dtype=np.uint8)
    state[0] = O.COLLECTOR
    state[1:5] = O.METAL
    state[3, 2], state[4, 2] = O.EMPTY, O.INTERPHASE
    h = np.full(nx, 5, dtype=np.intc)
    void = 3 * nx + 2
    for floor_2, settles in ((3, True), (4, False)):
        floor = np.zeros(nx, dtype=np.intc)
        floor[2] = floor_2
        eng = Engine(nx, 1, nz, zc, 1, params, bit_generator(7), span=1)
        orc = O.Oracle(nx, 1, nz, zc, 1, params, bit_generator(7), span=1)
        for m in (eng, orc):
            m.load_lattice(state.reshape(-1), h, None, None, floor)
        # (plus the lateral moves of columns 1 and 3, under load below their tops)
        expected = 3 if settles else 2
        assert int(eng.rates_snapshot()[1][void]) == expected, floor_2
        assert len(orc.creep_moves(void)) == expected, floor_2
    (th_film, cr_film), (th_bare, cr_bare) = snaps
    void = 3 * nx + 3
    assert cr_film[void] == cr_bare[void] == 1      # only column 4's metal flows in
    assert th_film[3 * nx + 2] > 0.0                # the metal under the film can hop
    assert np.array_equal(cr_film, cr_bare)
    assert np.allclose(th_film, th_bare, rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("dim", [2, 3])
def test_insulating_interphase_cuts_metal_off(dim):
    """Hand-built parameters (no config makes them): an interphase that conducts neither
    electrons nor ions. Only bare metal tops react (a column is sealed once its top is
    interphase); a metal voxel turned into interphase is removed from the connectivity
    (Engine.metal_removed), so metal hanging on it dies. Porous deposits at rest and while
    plating, with slow hops and no creep, one short run per lattice."""
    cfg = (small_2d if dim == 2 else small_3d)(cell__stack_pressure_MPa=0.0,
                                              diffusion__self_diffusivity_cm2_s=1e-12)
    shape = (10, 1, 12, 1, 2) if dim == 2 else (5, 4, 10, 1, 2)
    nx, ny = shape[0], shape[1]
    params = interphase_params(cfg, nx * ny, "insulating", sei_k=1.0)
    rng = np.random.default_rng(250 + dim)
    kinds, dead_by_sei, searches = Counter(), 0, 0
    for i in range(8):
        state, h = random_lattice(rng, *shape, span=1, fill=0.7)
        pair = Pair.from_lattice(shape, params, 251 + 10 * dim + i, state, h)
        assert not pair.eng.has_bridges and O.INTERPHASE not in pair.orc.bridges
        pair.half_cycle("rest", 30)
        pair.half_cycle("plate", 60, v_cutoff=INF)
        kinds += pair.kinds
        dead_by_sei += pair.dead_made["sei"]
        searches += pair.sei_searches
        assert pair.seen["metal live through interphase"] == 0
    print(dict(kinds), dead_by_sei, searches)
    assert kinds["sei"] > 0 and "sei-under-interphase" not in kinds
    assert kinds["plate"] > 0 and "plate-on-interphase" not in kinds
    assert dead_by_sei > 0 and searches > 0


def test_engine_refuses_malformed_params():
    """Parameter sets no config makes are refused instead of misbehaving: class lists of the
    wrong length (read past their end) and an interphase that carries ions but no electrons
    (its class would read the metal under a film the engine does not track as a bridge)."""
    cfg = small_2d(cell__stack_pressure_MPa=15.0, diffusion__self_diffusivity_cm2_s=1e-11)
    params = interphase_params(cfg, 10, "ionic", sei_k=0.3)
    with pytest.raises(ValueError, match="conduct electrons"):
        Engine(10, 1, 12, 1, 2, params, bit_generator(503))
    short = dict(interphase_params(cfg, 10, "mixed", sei_k=0.3), gain=[1.0] * 6)
    with pytest.raises(ValueError, match="gain"):
        Engine(10, 1, 12, 1, 2, short, bit_generator(503))

# ---------------------------------------------------------------------- Metropolis hop rule

def metropolis_gas(dim, L, T, seed, fill=0.5):
    """The benchmark's lattice gas, small: periodic in every direction, L^3 (3D) or L^2 (2D,
    x-z) sites filled at random to `fill`, Metropolis hops at temperature T (no adatoms, no
    creep). Returns (shape, params, state, h)."""
    cfg = make_cfg(lattice__dimension=dim, cell__stack_pressure_MPa=0.0,
                   nucleation__interfacial_diffusivity_um2_s=0.0)
    nx, ny, nz = L, (L if dim == 3 else 1), L
    params = dict(engine_params(cfg, Units(cfg), nx * ny), **metropolis_params(T))
    rng = np.random.default_rng(seed)
    state = np.where(rng.random(nx * ny * nz) < fill, O.METAL, O.EMPTY).astype(np.uint8)
    return (nx, ny, nz, 0, 1), params, state, np.full(nx * ny, nz, dtype=np.intc)


def empty_bonds(state, shape):
    """H: occupied-EMPTY nearest-neighbour pairs of a lattice periodic in every direction."""
    nx, ny, nz = shape[:3]
    g = state.reshape(nz, ny, nx) != O.EMPTY
    axes = (0, 2) if ny == 1 else (0, 1, 2)
    return sum(int(np.count_nonzero(g != np.roll(g, 1, axis=a))) for a in axes)


@pytest.mark.parametrize("dim, L, T, fill", [(3, 6, 4.0, 0.5), (3, 6, 1.0, 0.5),
                                              (2, 10, 1.0, 0.5), (3, 6, 4.0, 0.2)])
def test_metropolis_lattice_gas(dim, L, T, fill):
    """The lattice-gas benchmark's workload (Metropolis rule), small, against the oracle
    after every event: every site's leaf (all 0: hops are trials of their own), the thermal
    total (the trials' bound), the clock (thinned trials advance it) and the random stream. Each hop changes H
    (occupied-empty pairs) by 2 dE, dE the hopping voxel's own change of empty neighbours:
    uphill, level and downhill hops must all occur, and uphill trials must be thinned.
    Half filled, trials find their voxel by drawing sites (a dense set); at 20 % by a
    select in the count set."""
    shape, params, state, h = metropolis_gas(dim, L, T, seed=300 + dim + int(T), fill=fill)
    pair = Pair.from_lattice(shape, params, 310 + dim + int(T), state, h, periodic_z=True,
                             track_connectivity=False)
    assert pair.eng.metropolis and pair.orc.metropolis
    pair.eng.set_mode("rest")
    pair.orc.set_mode("rest")
    dH = Counter()
    H = empty_bonds(pair.eng.state_arr, shape)
    for i in range(2500):
        assert pair.step(f"event {i + 1}", "rest", 1, 2 ** 62, INF, INF) == NAMES["events"]
        H1 = empty_bonds(pair.eng.state_arr, shape)
        dH[H1 - H] += 1
        H = H1
    print(dict(pair.kinds), sorted(dH.items()))
    assert pair.kinds["hop"] == 2500
    assert all(d % 2 == 0 and abs(d) <= 10 for d in dH)
    assert sum(n for d, n in dH.items() if d > 0) > 50          # uphill (rate < prefactor)
    assert dH[0] > 50 and sum(n for d, n in dH.items() if d < 0) > 50
    assert pair.eng.n_null == pair.orc.n_null > 1000      # 0.9-2 thinned trials per hop
    k0 = params["k_bond"][2 * dim - 1]
    assert not pair.eng.rates_snapshot()[0].any()
    n = int(np.count_nonzero(pair.eng.state_arr == O.METAL))
    assert pair.eng.totals[0] == pair.orc.totals[0] == 2 * dim * n * k0


def metropolis_on(pair, T):
    """Switch engine and oracle of a pair to the Metropolis rule (params of its config)."""
    e = pair.eng
    params = dict(engine_params(pair.cfg, pair.units, e.ncol), **metropolis_params(T))
    e.set_params(params)
    e.rebuild()
    pair.orc.set_params(params)
    pair.orc.recompute()
    pair.check("Metropolis rule on")
    assert e.metropolis


@pytest.mark.parametrize("dim", [2, 3])
def test_metropolis_plating_with_adatoms(dim):
    """The rule is an engine parameter and holds in the electrode model too: plating from
    the bare collector (adatom moves beside Metropolis hops, separator lift), stripping
    (dead metal), creep at 15 MPa."""
    # (D 1e-9 cm2/s: the rule's prefactor is the bulk hop rate D / a^2, far below bond
    # counting's surface hop rates)
    over = dict(cell__stack_pressure_MPa=15.0, diffusion__self_diffusivity_cm2_s=1e-9,
                nucleation__interfacial_diffusivity_um2_s=0.1, run__seed=41 + dim)
    cfg = small_2d(**over) if dim == 2 else small_3d(**over)
    pair = Pair.from_config(cfg)
    pair.cfg = cfg
    metropolis_on(pair, 2.0)
    layers = 4 if dim == 2 else 2
    pair.cycles(2, plate_voxels=layers * pair.eng.ncol, max_events=1500, v_cutoff=0.6)
    k = pair.kinds
    print(dict(k))
    assert k["hop"] > 100 and k["adatom"] > 0 and k["plate"] > 0 and k["strip"] > 0
    assert k["creep-settle"] > 0
    # the trials read the EMPTY sites from a bitmap kept beside the state
    e = pair.eng
    bits = np.unpackbits(e.emp_arr.view(np.uint8), bitorder="little")[:e.nsite]
    assert np.array_equal(bits.astype(bool), e.state_arr == O.EMPTY)


@pytest.mark.parametrize("dim", [2, 3])
def test_metropolis_prebuilt_soft_lattice(dim):
    """Metropolis rule in random porous deposits with soft voxels (hopping at the soft
    phase's prefactor) and seeds (their exchange rule unchanged), connectivity tracking,
    creep, plating and stripping. (D 1e-9 cm2/s: see test_metropolis_plating_with_adatoms.)"""
    cfg = (small_2d if dim == 2 else small_3d)(cell__stack_pressure_MPa=15.0,
                                              diffusion__self_diffusivity_cm2_s=1e-9)
    shape = (10, 1, 12, 1, 2) if dim == 2 else (5, 4, 10, 1, 2)
    nx, ny = shape[0], shape[1]
    params = dict(soft_params(cfg, nx * ny), **metropolis_params(1.5))
    rng = np.random.default_rng(330 + dim)
    state, h, load = soft_random_lattice(rng, *shape, fill=0.6, soft_share=0.25,
                                         seed_share=0.15)
    pair = Pair.from_lattice(shape, params, 331 + dim, state, h, load,
                             random_factors(rng, nx * ny))
    assert pair.eng.metropolis
    for mode in ("strip", "rest", "plate"):
        pair.half_cycle(mode, 500, v_cutoff=INF)
    k = pair.kinds
    print(dict(k))
    assert k["hop"] > 0 and k["soft-hop"] > 0 and k["seed-swap"] > 0
    assert k["plate"] + k["plate-on-soft"] > 0 and k["strip"] + k["strip-under-soft"] > 0
    assert pair.dead_made["rest"] + pair.dead_made["strip"] > 0


@pytest.mark.parametrize("case", ["gas-3", "gas-2", "growth-3", "soft-3"])
def test_metropolis_rebuild_matches_incremental(case):
    """Metropolis rule, engine alone, never rebuilt: before every event its incrementally
    kept rates (a phase change reaches rates two steps away, refreshed at the end of the
    event) equal those of a twin rebuilt from its lattice; the twin then runs the same
    event (same clock, lattice, counters and stream). Every 500 events the engine's own
    rebuild() must change nothing. Cases: the benchmark lattice gas (3D, 2D), the growth
    benchmark (slab under the separator, plating and rest), porous deposits with soft voxels and
    seeds under creep, plating and stripping."""
    kind, dim = case.split("-")
    dim = int(dim)
    modes, charge = ("rest",), 4 * 20
    if kind == "gas":
        shape, params, state, h = metropolis_gas(dim, 10 if dim == 3 else 16, 2.0, 330 + dim)
        load, flags = None, dict(periodic_z=True, track_connectivity=False)
    elif kind == "growth":
        cfg = make_cfg(cell__stack_pressure_MPa=0.0, protocol__current_density_mA_cm2=10.0,
                       nucleation__interfacial_diffusivity_um2_s=0.0)
        L, slab, nz = 8, 4, 24
        shape = (L, L, nz, 0, 2)
        params = dict(engine_params(cfg, Units(cfg), L * L), **metropolis_params(4.0))
        rng = np.random.default_rng(333)
        grid = np.full((nz, L * L), O.ELECTROLYTE, dtype=np.uint8)
        grid[:slab] = np.where(rng.random((slab, L * L)) < 0.5, O.METAL, O.EMPTY)
        grid[slab - 1] = O.METAL
        state, h = grid.reshape(-1), np.full(L * L, slab, dtype=np.intc)
        load, flags, modes = None, dict(track_connectivity=False), ("plate", "rest")
    else:
        cfg = small_3d(cell__stack_pressure_MPa=15.0, diffusion__self_diffusivity_cm2_s=1e-9)
        params = dict(soft_params(cfg, 20), **metropolis_params(1.5))
        rng = np.random.default_rng(334)
        state, h, load = soft_random_lattice(rng, 5, 4, 10, 1, 2, fill=0.6, soft_share=0.25,
                                             seed_share=0.15)
        # ten more layers of headroom for plating
        state = np.concatenate([state, np.full(10 * 20, O.ELECTROLYTE, dtype=np.uint8)])
        load = np.concatenate([load, np.zeros(10 * 20, dtype=np.uint8)])
        shape = (5, 4, 20, 1, 2)
        flags, modes, charge = {}, ("strip", "plate", "rest"), 30
    nx, ny, nz, zc, step = shape

    def make(bitgen):
        return Engine(nx, ny, nz, zc, step, params, bitgen, **flags)
    eng, twin = make(bit_generator(340 + dim)), make(bit_generator(0))
    eng.load_lattice(state, h, load)
    assert eng.metropolis

    def snapshot(e):
        r = e.rates_snapshot()
        return dict(state=e.state_arr.copy(), h=e.h_arr.copy(), thermal=r[0], creep=r[1],
                    class_leaves=r[2], top=r[3], cls=r[4], counts=(e.n_metal, e.n_dead),
                    totals=tuple(e.totals))

    def compare(inc, ref, where, what):
        for key in inc:
            same = (np.array_equal(inc[key], ref[key]) if isinstance(inc[key], np.ndarray)
                    else inc[key] == ref[key])
            if key == "thermal" and not same:
                bad = np.nonzero(inc[key] != ref[key])[0][:6]
                raise AssertionError(f"{where}: thermal rates differ from {what} at sites "
                                     f"{bad.tolist()}: {inc[key][bad]} vs {ref[key][bad]}")
            assert same, f"{where}: {key} differs from {what}"

    n_events = 0
    kinds = Counter()
    while n_events < 3000:
        mode = modes[(n_events // 600) % len(modes)]
        eng.set_mode(mode)
        target = (eng.n_plated if mode == "plate" else eng.n_stripped) + charge
        for _ in range(600):
            where = f"{case} {mode} event {eng.n_events + 1}"
            check_twin(eng, twin, mode, where, snapshot, compare, n_events % 500 == 0)
            thermal0 = eng.n_thermal
            r_e = eng.advance(1, INF, target, INF)
            r_t = twin.advance(1, INF, target, INF)
            kinds["thermal"] += eng.n_thermal - thermal0
            assert r_e == r_t, f"{where}: stop reason {r_e} != {r_t} (twin)"
            assert STOP_REASONS[r_e] in ("events", "charge") or (
                STOP_REASONS[r_e] == "no_events" and eng.n_metal == 0
                and eng.totals[:3] == (0.0, 0.0, 0.0)), f"{where}: {STOP_REASONS[r_e]}"
            assert eng.get_counters() == twin.get_counters(), f"{where}: counters (twin)"
            assert np.array_equal(eng.state_arr, twin.state_arr), f"{where}: lattice (twin)"
            assert eng.bitgen.state == twin.bitgen.state, f"{where}: stream (twin)"
            n_events += 1
            if STOP_REASONS[r_e] != "events":
                break
    print(case, eng.get_counters())
    assert eng.n_events >= 2900 and kinds["thermal"] > 1000
    if kind == "growth":
        assert eng.n_plated >= 40
    if kind == "soft":
        assert eng.n_plated > 0 and eng.n_stripped > 0
