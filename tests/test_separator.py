"""The separator / volume rule of the engine (ext/engine.pyx), five requirements:

(a) exact metal conservation: n_plated = n_stripped + n_metal + n_dead after every chunk of
    events, the lattice holds exactly n_metal METAL and n_dead DEAD sites, and hops and creep
    moves never change the amount of metal;
(b) locality: one event changes the rates of a bounded number of sites, all near the sites
    and columns the event changed, and the incrementally maintained rates equal a rebuild
    from scratch exactly;
(c) at 15 MPa plating and stripping keep the separator in contact (creep closes the gaps
    that plating opens), with no dip that recurs once per layer;
(d) at 0 MPa nothing closes the gaps: stripping loses contact quickly and ends early on the
    voltage cutoff;
(e) a tall island lifts the separator off the columns around it (EMPTY gaps under it, no
    contact there) while far columns stay in contact, and |h[c] - h[c']| <= step holds for
    every two columns within span of each other after every event.

The rule is tested with thin-film creep off (these films are 0.1-1.5 um thick, all below the
creep length of 1 um where it slows creep); test_thin_films_lose_contact_first checks what
it adds: contact lost at the start of plating and the end of stripping.
"""
import math

import numpy as np
import pytest

from kmc import config as C
from kmc import observables as obs
from kmc._engine import STOP_REASONS, Engine
from kmc.lattice import bit_generator, build_engine
from kmc.phases import COLLECTOR, DEAD, ELECTROLYTE, EMPTY, METAL
from kmc.rates import Units, engine_params, lattice_shape

INF = math.inf


def make_cfg(**over):
    """Resolved config from the defaults plus {dotted.key: value} overrides (thin-film
    creep off unless asked for)."""
    over.setdefault("mechanics.thin_film_creep", False)
    return C.with_overrides(over)


def small_cfg(dim, pressure, seed, **over):
    base = {"lattice.dimension": dim, "lattice.size_x_um": 3.2 if dim == 2 else 1.2,
            "lattice.size_y_um": 1.2, "cell.stack_pressure_MPa": pressure,
            "protocol.current_density_mA_cm2": 1.0, "protocol.plate_capacity_mAh_cm2": 0.1,
            "run.seed": seed}
    base.update(over)
    return make_cfg(**base)


def engine_from(cfg, state, h, seed):
    """A fresh engine for cfg's lattice shape loaded with (state, h)."""
    units = Units(cfg)
    nx, ny, nz, zc, step, span = lattice_shape(cfg, units)
    eng = Engine(nx, ny, nz, zc, step, engine_params(cfg, units, nx * ny), bit_generator(seed),
                 span=span)
    eng.load_lattice(state, h)
    return eng


def window_ok(eng):
    """Every two columns within Chebyshev distance span (x only in 2D) differ in separator
    height by at most step."""
    h = eng.h_arr.reshape(eng.ny, eng.nx).astype(int)
    by = eng.span if eng.ny > 1 else 0
    return all(np.all(np.abs(h - np.roll(h, (dy, dx), axis=(0, 1))) <= eng.step)
               for dy in range(-by, by + 1) for dx in range(-eng.span, eng.span + 1))


def balance_error(eng):
    """None if the inventory balance and the lattice counts hold, else a description."""
    st = eng.state_arr
    n_met, n_dead = int(np.count_nonzero(st == METAL)), int(np.count_nonzero(st == DEAD))
    if (n_met, n_dead) != (eng.n_metal, eng.n_dead):
        return f"lattice {n_met}/{n_dead} METAL/DEAD, counters {eng.n_metal}/{eng.n_dead}"
    if eng.n_plated != eng.n_stripped + eng.n_metal + eng.n_dead + eng.n_consumed:
        return (f"plated {eng.n_plated} != stripped {eng.n_stripped} + metal {eng.n_metal} "
                f"+ dead {eng.n_dead} + consumed {eng.n_consumed}")
    return None


# ---------------------------------------------------------------------- (a) conservation

def dense_film(eng, units, cfg, pressure, layers):
    """Grow `layers` layers at 15 MPa (a dense film), then switch to `pressure`."""
    eng.set_mode("plate")
    assert STOP_REASONS[eng.advance(10 ** 9, INF, layers * eng.ncol, INF)] == "charge"
    if pressure != 15.0:
        cfg = C.validate(C.set_key(C.validate(cfg), "cell.stack_pressure_MPa", pressure))
        eng.set_params(engine_params(cfg, units, eng.ncol))
        eng.rebuild()


@pytest.mark.parametrize("pressure", [15.0, 0.0])
@pytest.mark.parametrize("dim", [2, 3])
def test_metal_conservation_through_cycles(dim, pressure):
    """A dense 3-layer film, then two plate/strip cycles at the tested pressure in chunks of
    250 events: the balance holds after every chunk. In the middle of each half-cycle 1500
    single events: each changes the metal on the lattice by exactly (plated - stripped -
    consumed by LPSC's thin interphase) of that event, so hops and creep moves change
    nothing. No voltage cutoff (at 0 MPa contact
    is lost quickly and the half-cycles would end at once); each half-cycle is bounded by
    its charge and by 40 chunks."""
    cfg = small_cfg(dim, 15.0, seed=11 * dim + int(pressure),
                    **{"diffusion.self_diffusivity_cm2_s": 1e-11})
    eng, units = build_engine(cfg)
    dense_film(eng, units, cfg, pressure, 3)
    plate = round(0.1 / units.mAh_cm2_per_layer * eng.ncol)
    kinds = {"thermal": 0, "creep": 0, "plate": 0, "strip": 0}

    def chunks(target, n=40):
        """Up to n chunks of 250 events towards `target`, checking after each chunk."""
        for _ in range(n):
            reason = STOP_REASONS[eng.advance(250, INF, target, INF)]
            err = balance_error(eng)
            assert err is None, f"cycle {cycle} {mode}: {err}"
            if reason != "events":
                return

    def solid():
        return int(np.count_nonzero((eng.state_arr == METAL) | (eng.state_arr == DEAD)))

    for cycle in range(2):
        for mode in ("plate", "strip"):
            eng.set_mode(mode)
            if mode == "plate":
                half, end = eng.n_plated + plate // 2, eng.n_plated + plate
            else:
                half, end = eng.n_stripped + plate // 2, eng.n_stripped + plate
            chunks(half)
            # single events: the metal on the lattice changes only by plating, stripping
            # and the (thin) interphase the electrolyte grows on it
            for _ in range(1500):
                before = (eng.n_thermal, eng.n_creep, eng.n_plated, eng.n_stripped,
                          eng.n_consumed)
                solid0 = solid()
                if STOP_REASONS[eng.advance(1, INF, end, INF)] != "events":
                    break
                d_th, d_cr, d_pl, d_st, d_sei = np.subtract(
                    (eng.n_thermal, eng.n_creep, eng.n_plated, eng.n_stripped,
                     eng.n_consumed), before)
                n = solid()
                assert n - solid0 == d_pl - d_st - d_sei
                assert n == eng.n_metal + eng.n_dead
                if d_th or d_cr:
                    assert n == solid0 and d_pl == d_st == 0
                for name, d in zip(kinds, (d_th, d_cr, d_pl, d_st)):
                    kinds[name] += int(d)
                assert balance_error(eng) is None
            chunks(end)
    assert kinds["thermal"] > 0 and kinds["plate"] > 0 and kinds["strip"] > 0, kinds
    if pressure > 0:
        assert kinds["creep"] > 0
    # a rest period with creep and hops running: the metal stays put
    eng.set_mode("rest")
    n0 = (eng.n_metal + eng.n_dead + eng.n_consumed, eng.n_plated, eng.n_stripped)
    eng.advance(20000, INF, 0, INF)
    assert (eng.n_metal + eng.n_dead + eng.n_consumed, eng.n_plated, eng.n_stripped) == n0
    assert balance_error(eng) is None


def test_metal_conservation_with_dead_metal():
    """A porous deposit at 0 MPa, stripped, rested, re-plated and stripped: metal is cut off
    (DEAD) and revived (live metal arriving next to it) many times; the balance, with dead
    metal counted, holds after every 20 events."""
    cfg = small_cfg(3, 0.0, seed=5, **{"diffusion.self_diffusivity_cm2_s": 1e-13})
    units = Units(cfg)
    nx, ny, nz, zc, step, span = lattice_shape(cfg, units)
    rng = np.random.default_rng(5)
    st = np.full((nz, ny * nx), ELECTROLYTE, dtype=np.uint8)
    st[:zc] = COLLECTOR
    h = np.full(nx * ny, zc + 6, dtype=np.intc)
    st[zc:zc + 6] = np.where(rng.random((6, nx * ny)) < 0.75, METAL, EMPTY)
    eng = Engine(nx, ny, nz, zc, step, engine_params(cfg, units, nx * ny), bit_generator(5),
                 span=span)
    eng.load_lattice(st.reshape(-1), h)
    # the loaded metal counts as plated before the run
    eng.set_counters(dict(eng.get_counters(), n_plated=eng.n_metal + eng.n_dead))
    assert balance_error(eng) is None
    dead = [eng.n_dead]
    for mode, n in (("strip", 400), ("rest", 2000), ("plate", 400), ("strip", 400)):
        eng.set_mode(mode)
        for _ in range(n // 20):
            eng.advance(20, INF, 10 ** 9, INF)
            assert balance_error(eng) is None
            dead.append(eng.n_dead)
    assert eng.n_stripped > 50 and eng.n_plated > eng.n_metal + eng.n_dead
    steps = np.diff(dead)
    assert np.any(steps > 0) and np.any(steps < 0), "no metal was cut off and revived"


# ---------------------------------------------------------------------- (b) locality

def leaf_changes(before, after):
    """Indices of changed leaves: (thermal sites, creep sites, echem columns of any class)."""
    ncol = before[4].size
    th, cr = (np.flatnonzero(b != a) for b, a in zip(before[:2], after[:2]))
    return th, cr, np.unique(np.flatnonzero(before[2] != after[2]) % ncol)


def explained(eng, st0, h0, changes):
    """Every changed leaf lies within lateral Chebyshev distance span + 1 and one layer of
    a site whose phase changed, or within lateral distance span + 1 of a column whose
    separator height changed. Returns the unexplained leaves."""
    nx, ny, ncol = eng.nx, eng.ny, eng.ncol
    ds = np.flatnonzero(st0 != eng.state_arr)
    dc = np.flatnonzero(h0 != eng.h_arr)
    r = eng.span + 1

    def lat(a, b):
        ax, ay, bx, by = a % nx, a // nx, b % nx, b // nx
        dx = np.minimum(np.abs(ax - bx), nx - np.abs(ax - bx))
        dy = np.minimum(np.abs(ay - by), ny - np.abs(ay - by))
        return np.maximum(dx, dy)

    bad = []
    sites = np.concatenate([changes[0], changes[1]])
    for s in sites:
        c, z = s % ncol, s // ncol
        ok = (ds.size and np.any((lat(c, ds % ncol) <= r) & (np.abs(z - ds // ncol) <= 1))) or \
             (dc.size and np.any(lat(c, dc) <= r))
        if not ok:
            bad.append(("site", int(s)))
    for c in changes[2]:
        top_changed = ds.size and np.any((ds % ncol == c))
        if not (top_changed or (dc.size and np.any(dc == c))):
            bad.append(("column", int(c)))
    return bad


@pytest.mark.parametrize("dim, pressure", [(3, 15.0), (2, 15.0), (3, 0.0)])
def test_rate_updates_are_local_and_exact(dim, pressure):
    """On a 32 x 32 (3D) or 256-column (2D) lattice, plate and strip one event at a time: each
    event changes fewer than 200 rate leaves, every one of them next to what the event
    changed; after each half-cycle the incremental rates equal engine.rebuild() exactly."""
    def cfg_at(p):
        return make_cfg(**{"lattice.dimension": dim,
                           "lattice.size_x_um": 3.2 if dim == 3 else 25.6,
                           "lattice.size_y_um": 3.2, "cell.stack_pressure_MPa": p,
                           "protocol.current_density_mA_cm2": 1.0,
                           "protocol.plate_capacity_mAh_cm2": 0.2, "run.seed": 21 + dim})

    eng, units = build_engine(cfg_at(15.0))
    # a deposit of four layers grown at 15 MPa (dense), then the run at the tested pressure
    eng.set_mode("plate")
    assert STOP_REASONS[eng.advance(10 ** 9, INF, 4 * eng.ncol, 0.5)] == "charge"
    if pressure != 15.0:
        eng.set_params(engine_params(cfg_at(pressure), units, eng.ncol))
        eng.rebuild()
    worst = 0
    counts = {"thermal": 0, "creep": 0, "echem": 0}
    for mode in ("plate", "strip"):
        eng.set_mode(mode)
        for _ in range(2500):
            before = eng.rates_snapshot()
            st0, h0 = eng.state_arr.copy(), eng.h_arr.copy()
            k0 = (eng.n_thermal, eng.n_creep, eng.n_echem)
            if STOP_REASONS[eng.advance(1, INF, 10 ** 9, INF)] != "events":
                break
            for name, a, b in zip(counts, (eng.n_thermal, eng.n_creep, eng.n_echem), k0):
                counts[name] += a - b
            ch = leaf_changes(before, eng.rates_snapshot())
            n = sum(len(x) for x in ch)
            worst = max(worst, n)
            assert n < 200, f"{mode}: one event changed {n} rate leaves"
            bad = explained(eng, st0, h0, ch)
            assert not bad, f"{mode}: rates changed far from the event: {bad[:5]}"
        inc = eng.rates_snapshot()
        inc_state = eng.state_arr.copy()
        inc_tot = eng.totals
        eng.rebuild()
        ref = eng.rates_snapshot()
        assert np.array_equal(inc_state, eng.state_arr), "incremental connectivity != flood fill"
        for name, a, b in zip(("thermal", "creep counts", "echem"), inc[:3], ref[:3]):
            assert np.array_equal(a, b), f"{mode}: {name} leaves differ from a rebuild"
        assert list(inc[3]) == list(ref[3]), "top-phase counts differ from a rebuild"
        assert np.array_equal(inc[4], ref[4]) and inc[5] == ref[5], "echem classes differ"
        assert inc_tot == pytest.approx(eng.totals, rel=1e-12, abs=0.0)
    assert counts["thermal"] > 0 and counts["echem"] > 0
    if pressure > 0:
        assert counts["creep"] > 0
    assert worst > 0


# ---------------------------------------------------------------------- (c), (d) contact

CONTACT_N = 24            # 24 x 24 columns of 0.1 um, 1 mA/cm2, 0.3 mAh/cm2


def contact_cfg(pressure, seed=1, thin_film=False):
    return make_cfg(**{"lattice.dimension": 3, "lattice.voxel_um": 0.1,
                       "lattice.size_x_um": CONTACT_N * 0.1, "lattice.size_y_um": CONTACT_N * 0.1,
                       "cell.stack_pressure_MPa": pressure, "protocol.current_density_mA_cm2": 1.0,
                       "protocol.plate_capacity_mAh_cm2": 0.3, "run.seed": seed,
                       "mechanics.thin_film_creep": thin_film})


def half_cycle_trace(eng, mode, target, v_cutoff=0.5):
    """Run a half-cycle, sampling the contact fraction after every electrochemical event.
    Returns (stop reason, charge after each sample (voxels), contact after each sample)."""
    eng.set_mode(mode)
    count = (lambda: eng.n_plated) if mode == "plate" else (lambda: eng.n_stripped)
    q0 = last = count()
    qs, cs = [], []
    while True:
        reason = STOP_REASONS[eng.advance(10 ** 9, INF, last + 1, v_cutoff)]
        if count() != last:
            last = count()
            qs.append(last - q0)
            cs.append(obs.contact(eng)["contact_fraction"])
        if reason != "charge" or last - q0 >= target:
            break
    return reason, np.array(qs), np.array(cs)


@pytest.fixture(scope="module")
def plated_15mpa():
    """0.3 mAh/cm2 plated at 15 MPa onto the bare collector, contact sampled per event."""
    cfg = contact_cfg(15.0)
    eng, units = build_engine(cfg)
    target = round(0.3 / units.mAh_cm2_per_layer * eng.ncol)
    reason, qs, cs = half_cycle_trace(eng, "plate", target)
    assert reason == "charge" and qs[-1] == target
    return {"cfg": cfg, "units": units, "ncol": eng.ncol, "target": target, "q": qs, "c": cs,
            "state": eng.state_arr.copy(), "h": eng.h_arr.copy()}


@pytest.fixture(scope="module")
def stripped(plated_15mpa):
    """Strip the same 15 MPa deposit at 15 MPa and at 0 MPa (same seed), 0.5 V cutoff."""
    out = {}
    for p in (15.0, 0.0):
        eng = engine_from(contact_cfg(p), plated_15mpa["state"], plated_15mpa["h"], seed=2)
        assert eng.n_metal == plated_15mpa["target"] and eng.n_dead == 0
        reason, qs, cs = half_cycle_trace(eng, "strip", plated_15mpa["target"])
        out[p] = {"reason": reason, "q": qs, "c": cs, "stripped": eng.n_stripped}
    return out


def test_thin_films_lose_contact_first(plated_15mpa, stripped):
    """Thin-film creep at 15 MPa (same deposit and seeds as the thick-film rule above): in
    the first 0.2 um plated and the last 0.2 um stripped the film is 1-2 voxels thick and
    creeps ~100 x slower, so the mean contact there falls well below the thick-film rule's,
    while in between (films of 0.5-1 um) it stays within a few points."""
    cfg = contact_cfg(15.0, thin_film=True)
    eng, units = build_engine(cfg)
    target = plated_15mpa["target"]
    reason, qs, cs = half_cycle_trace(eng, "plate", target)
    assert reason == "charge"
    ncol = eng.ncol
    first = lambda q, c: c[q <= 2 * ncol].mean()
    middle = lambda q, c: c[(q > 5 * ncol) & (q <= 10 * ncol)].mean()
    thick = plated_15mpa
    print("first", first(qs, cs), first(thick["q"], thick["c"]), "middle", middle(qs, cs),
          middle(thick["q"], thick["c"]))
    assert first(qs, cs) < first(thick["q"], thick["c"]) - 0.05
    assert middle(qs, cs) > middle(thick["q"], thick["c"]) - 0.05
    eng2 = engine_from(cfg, plated_15mpa["state"], plated_15mpa["h"], seed=2)
    reason, qs2, cs2 = half_cycle_trace(eng2, "strip", target)
    ref = stripped[15.0]
    last = lambda q, c: c[q > q.max() - 2 * ncol].mean()
    print("last", last(qs2, cs2), last(ref["q"], ref["c"]), reason)
    assert last(qs2, cs2) < last(ref["q"], ref["c"]) - 0.05


def per_layer_stats(qs, cs, ncol):
    """Mean contact per completed layer and per tenth of a layer (phase within the layer)."""
    layer = (qs - 1) // ncol
    phase = ((qs - 1) % ncol) * 10 // ncol
    per_layer = np.array([cs[layer == i].mean() for i in range(layer.max() + 1)])
    per_phase = np.array([cs[phase == i].mean() for i in range(10)])
    return per_layer, per_phase


def test_high_pressure_plating_keeps_contact_without_layer_dips(plated_15mpa):
    """15 MPa plating of 0.3 mAh/cm2 (~14.5 layers): the mean contact of every layer stays
    above 0.9 and does not depend on how far the current layer is filled (no dip that
    recurs once per layer)."""
    qs, cs, ncol = plated_15mpa["q"], plated_15mpa["c"], plated_15mpa["ncol"]
    per_layer, per_phase = per_layer_stats(qs, cs, ncol)
    assert len(per_layer) >= 14
    assert per_layer.min() > 0.9, f"layer means {np.round(per_layer, 3)}"
    assert per_phase.max() - per_phase.min() < 0.03, f"phase means {np.round(per_phase, 3)}"
    assert cs.mean() > 0.9


def test_high_pressure_plating_contact_never_below_0p9(plated_15mpa):
    """Requirement (c) taken literally: min over per-event samples of the contact fraction
    during 15 MPa plating > 0.9."""
    cs = plated_15mpa["c"]
    assert cs.min() > 0.9, (f"min contact {cs.min():.3f}, {np.mean(cs < 0.9):.2%} of "
                            f"{len(cs)} samples below 0.9")


def test_high_pressure_stripping_keeps_contact(plated_15mpa, stripped):
    """15 MPa stripping of the whole 0.3 mAh/cm2: it reaches its charge (no voltage cutoff)
    and the contact fraction sampled after every stripping event never falls below 0.9,
    with no per-layer dip."""
    s = stripped[15.0]
    assert s["reason"] == "charge" and s["stripped"] == plated_15mpa["target"]
    assert s["c"].min() > 0.9, f"min contact {s['c'].min():.3f}"
    per_layer, per_phase = per_layer_stats(s["q"], s["c"], plated_15mpa["ncol"])
    assert per_layer.min() > 0.9
    assert per_phase.max() - per_phase.min() < 0.03, f"phase means {np.round(per_phase, 3)}"


def test_zero_pressure_stripping_loses_contact(plated_15mpa, stripped):
    """The same deposit stripped at 0 MPa: the separator cannot follow the receding metal,
    so contact falls well below the 15 MPa value within the first layer and the strip ends
    early on the 0.5 V cutoff."""
    hi, lo = stripped[15.0], stripped[0.0]
    ncol = plated_15mpa["ncol"]
    assert lo["reason"] == "voltage"
    assert lo["stripped"] < 0.5 * hi["stripped"], (lo["stripped"], hi["stripped"])
    assert lo["c"].mean() < 0.8 * hi["c"].mean(), (lo["c"].mean(), hi["c"].mean())
    # after one layer's worth of charge the 0 MPa contact is already far below 15 MPa's
    at_layer = lo["c"][lo["q"] == ncol][0]
    assert at_layer < 0.8 * hi["c"][hi["q"] == ncol][0], at_layer
    assert lo["c"][-1] < 0.1


# ---------------------------------------------------------------------- (e) separator lift

@pytest.mark.parametrize("dim, span, step", [(3, 1, 1), (3, 2, 1), (3, 2, 2), (2, 3, 1)])
def test_tall_island_lifts_separator_off_neighbours(dim, span, step):
    """A single metal column on a flat, bare collector grows by plating (the collector's
    nucleation onset is set to 10 V, so every event lands on the column; no hops, no creep).
    After k plates the column is H = zc + 1 + k high; the separator over a column at window
    distance r (Chebyshev, in units of span) is lifted to max(zc, H - ceil(r / span) * step):
    those columns hold EMPTY gaps up to it (top phase EMPTY, no contact), the columns beyond
    stay on the collector (in contact)."""
    cfg = make_cfg(**{"lattice.dimension": dim, "cell.stack_pressure_MPa": 0.0,
                      "diffusion.self_diffusivity_cm2_s": 0.0,
                      "nucleation.interfacial_diffusivity_um2_s": 0.0})
    nx, ny, zc, nz = 21, (21 if dim == 3 else 1), 1, 12
    ncol = nx * ny
    params = dict(engine_params(cfg, Units(cfg), ncol), onset=[0.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0])
    st = np.full((nz, ny, nx), ELECTROLYTE, dtype=np.uint8)
    st[:zc] = COLLECTOR
    h = np.full((ny, nx), zc, dtype=np.intc)
    cy, cx = ny // 2, nx // 2
    st[zc, cy, cx] = METAL
    h[cy, cx] = zc + 1
    eng = Engine(nx, ny, nz, zc, step, params, bit_generator(3), span=span)
    eng.load_lattice(st.reshape(-1), h.reshape(-1))
    eng.set_counters(dict(eng.get_counters(), n_plated=1))      # the seed voxel
    assert eng.span == span and eng.step == step
    eng.set_mode("plate")
    yy, xx = np.mgrid[0:ny, 0:nx]
    r = np.maximum(np.abs(xx - cx), np.abs(yy - cy))
    for k in range(1, 6):
        assert STOP_REASONS[eng.advance(1, INF, 10 ** 9, INF)] == "events"
        assert eng.n_plated == k + 1 and eng.n_thermal == 0 and eng.n_creep == 0
        H = zc + 1 + k
        hh = eng.h_arr.reshape(ny, nx)
        lat = eng.state_arr.reshape(nz, ny, nx)
        expect = np.maximum(zc, H - np.ceil(r / span).astype(int) * step)
        assert np.array_equal(hh, expect), f"k={k}\n{hh}\n{expect}"
        assert np.all(lat[zc:H, cy, cx] == METAL)                  # the island
        lifted = (hh > zc) & (r > 0)
        assert lifted.any() == (k + 1 > step)        # an island up to `step` lifts nothing
        for y, x in zip(*np.nonzero(lifted)):
            assert np.all(lat[zc:hh[y, x], y, x] == EMPTY), (y, x)  # gap under the separator
            assert np.all(lat[hh[y, x]:, y, x] == ELECTROLYTE)
        top = np.array([[lat[hh[y, x] - 1, y, x] for x in range(nx)] for y in range(ny)])
        assert np.all(top[lifted] == EMPTY)
        assert np.all(top[~lifted & (r > 0)] == COLLECTOR)          # far columns: contact
        c = obs.contact(eng)
        assert c["void_fraction_interface"] == pytest.approx(lifted.sum() / ncol)
        assert c["contact_fraction"] == pytest.approx((ncol - lifted.sum()) / ncol)
        assert window_ok(eng)
        assert balance_error(eng) is None


@pytest.mark.parametrize("dim, pressure, span_um, step_um", [
    (3, 15.0, 0.2, 0.1), (3, 0.0, 0.1, 0.1), (3, 15.0, 0.2, 0.2), (2, 15.0, 0.3, 0.1),
    (2, 2.0, 0.1, 0.1)])
def test_window_bound_after_every_event(dim, pressure, span_um, step_um):
    """A two-layer film grown at 15 MPa, then a random strip / rest / plate / strip run at
    the tested pressure, checked after every single event: every two columns within span of
    each other differ in separator height by at most step."""
    cfg = small_cfg(dim, 15.0, seed=40 + dim, **{"mechanics.separator_span_um": span_um,
                                                 "mechanics.separator_max_step_um": step_um,
                                                 "protocol.current_density_mA_cm2": 1.0,
                                                 "diffusion.self_diffusivity_cm2_s": 1e-12})
    eng, units = build_engine(cfg)
    assert eng.span == round(span_um / 0.1) and eng.step == round(step_um / 0.1)
    dense_film(eng, units, cfg, pressure, 2)
    assert window_ok(eng)
    moved = echem = 0
    for mode, n in (("strip", 2500), ("rest", 1500), ("plate", 3000), ("strip", 2500)):
        eng.set_mode(mode)
        h_prev = eng.h_arr.copy()
        for _ in range(n):
            k = eng.n_echem
            if STOP_REASONS[eng.advance(1, INF, 10 ** 9, INF)] != "events":
                break
            assert window_ok(eng), f"{mode}: window bound broken, h =\n{eng.h_arr}"
            moved += int(np.any(eng.h_arr != h_prev))
            echem += eng.n_echem - k
            h_prev = eng.h_arr.copy()
    assert moved > 50 and echem > 100, (moved, echem)
