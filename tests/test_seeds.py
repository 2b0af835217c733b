"""Alloy seed layers and electrochemical classes: capacity, barrier-free alloying, release
plateaus gated by the electrode overpotential, seed motion (Ag dissolves, Au rides), exact
inventory, and the nucleation overpotential on bare Cu vs seeds (issue 3)."""
import math

import numpy as np
import pytest

from kmc import config as C
from kmc.lattice import RIDE_BIT, bit_generator, build_engine, seed_capacity_mAh_cm2
from kmc.observables import seed_at_interface
from kmc.phases import COLLECTOR, ELECTROLYTE, METAL, SEED
from kmc.rates import FARADAY, GAS_R, Units, engine_params
from kmc.runner import Run
from kmc._engine import STOP_REASONS, Engine

INF = math.inf
B = 2 * GAS_R * 298.15 / FARADAY          # 2RT/F (V): symmetric Butler-Volmer slope


def cfg_for(material, dim=2, **over):
    base = {"seed.material": material, "lattice.dimension": dim, "lattice.size_x_um": 3.2,
            "lattice.size_y_um": 1.6, "protocol.current_density_mA_cm2": 0.25,
            "protocol.plate_capacity_mAh_cm2": 0.2, "protocol.cycles": 1,
            "kinetics.potential_update_layers": 0.0}
    base.update(over)
    return C.with_overrides(base)


def bv_eta(j_local, j0):
    return B * math.asinh(j_local / (2 * j0))


@pytest.mark.parametrize("material, uAh", [("Ag", 26.0), ("Au", 78.0)])
def test_seed_film_capacity(material, uAh):
    """100 nm films hold 001's capacities, and the lattice's seed voxels hold that charge."""
    cfg = cfg_for(material, dim=3, **{"lattice.size_x_um": 6.4, "lattice.size_y_um": 6.4})
    assert 1000 * seed_capacity_mAh_cm2(cfg) == pytest.approx(uAh, rel=0.02)
    eng, units = build_engine(cfg)
    st = eng.state_arr
    caps = (eng.load_arr[st == SEED] >> 4) & 7
    assert np.count_nonzero(st == SEED) == eng.ncol          # one full 100 nm layer
    held = units.voxels_to_mAh_cm2(int(caps.sum()), eng.ncol)
    assert 1000 * held == pytest.approx(uAh, rel=0.05)
    riding = np.count_nonzero(eng.load_arr[st == SEED] & 128) / eng.ncol
    if material == "Au":
        assert 0.45 < riding < 0.55                        # about half ride (001)
    else:
        assert riding == 0.0                               # Ag dissolves instead


def test_no_nucleation_barrier_on_seeds():
    """At the first plating event the electrode overpotential is Butler-Volmer at j on a seeded
    collector, and that plus the 18 mV nucleation onset on bare Cu."""
    j0 = C.load_materials("li_lpsc")["kinetics"]["exchange_current_mA_cm2"]
    for material, extra in (("none", 0.018), ("Ag", 0.0), ("Au", 0.0)):
        eng, _ = build_engine(cfg_for(material))
        eng.set_mode("plate")
        assert eng.electrode_overpotential() == pytest.approx(bv_eta(0.25, j0) + extra,
                                                              abs=1e-9)


def loaded_seed_lattice(material, metal_cols, metal_layers=20):
    """A 2D lattice whose seed layer is full of metal; metal_cols columns carry a thick metal
    deposit on their seed, the others expose their loaded seed to the electrolyte."""
    cfg = cfg_for(material, **{"diffusion.self_diffusivity_cm2_s": 0.0,
                               "nucleation.interfacial_diffusivity_um2_s": 0.0})
    eng, units = build_engine(cfg)
    ncol, zc = eng.ncol, eng.zc
    st = eng.state_arr.reshape(eng.nz, ncol).copy()
    ld = eng.load_arr.reshape(eng.nz, ncol).copy()
    h = eng.h_arr.copy()
    ld[zc] = (ld[zc] & 0xF0) | ((ld[zc] >> 4) & 7)           # every seed full
    for c in metal_cols:
        st[zc + 1:zc + 1 + metal_layers, c] = METAL
        h[c] = zc + 1 + metal_layers
    eng.load_lattice(st.reshape(-1), h, ld.reshape(-1))
    loaded = int((ld[zc] & 15).sum())
    eng.set_counters(dict(eng.get_counters(), n_plated=loaded + len(metal_cols) * metal_layers))
    return eng, cfg


@pytest.mark.parametrize("material", ["Ag", "Au"])
def test_release_waits_for_its_onset(material):
    """With metal on half the columns, stripping runs at eta = BV(2j) ~ 24 mV (15 MPa creep
    keeps the stripped columns in contact): below the release onset, so the loaded seeds
    beside the metal keep their metal. Once only two metal columns are left, eta exceeds the
    onset and the seeds start releasing."""
    eng0, _ = build_engine(cfg_for(material))
    ncol = eng0.ncol
    eng, cfg = loaded_seed_lattice(material, range(0, ncol, 2))
    eng.set_mode("strip")
    j0 = cfg["kinetics"]["exchange_current_mA_cm2"]
    assert eng.electrode_overpotential() == pytest.approx(bv_eta(0.25 * 2, j0), abs=1e-9)
    held = eng.n_in_seed
    while eng.n_echem < 100:
        eng.advance(1, INF, 10 ** 9, INF)
        assert eng.electrode_overpotential() < 0.05
    assert eng.n_in_seed == held
    eng2, _ = loaded_seed_lattice(material, [0, ncol // 2])
    eng2.set_mode("strip")
    assert eng2.electrode_overpotential() > (0.05 if material == "Ag" else 0.07)
    held = eng2.n_in_seed
    eng2.advance(200, INF, 10 ** 9, INF)
    assert eng2.n_in_seed < held


def test_au_release_shows_two_plateaus():
    """Stripping a full Li-Au layer with no metal left: the voltage sits above 0.07 V while the
    seeds are more than half full and above 0.16 V after; everything absorbed is released."""
    eng, _ = loaded_seed_lattice("Au", [])
    eng.set_mode("strip")
    held0 = eng.n_in_seed
    v = []
    while STOP_REASONS[eng.advance(1, INF, 10 ** 9, INF)] == "events":
        v.append((eng.n_in_seed / held0, eng.electrode_overpotential()))
    assert eng.n_in_seed == 0 and eng.n_stripped == held0
    early = [e for f, e in v if f > 0.8]
    late = [e for f, e in v if 0.0 < f < 0.2]
    assert min(early) > 0.07 and max(early) < 0.16
    assert min(late) > 0.16


@pytest.mark.parametrize("material", ["Ag", "Au"])
def test_seed_motion_and_exact_inventory(material):
    """Through a plate/strip cycle Ag seeds dissolve into the Li (some leave the collector
    layer, few reach the electrolyte) and come back down as the Li strips; Au seeds that
    ride (half, seed.riding_fraction) stay at the top of the deposit, none buried on the
    way (001: about half of the Au at the SSE side). The inventory balance holds exactly
    at every stop."""
    cfg = cfg_for(material, **{"lattice.size_x_um": 6.4})
    run = Run(cfg, "/nonexistent")
    e = run.engine
    zc = e.zc
    target = run.plate_voxels
    while e.n_plated < target:
        e.advance(20000, INF, target, INF)
        assert e.n_plated == e.n_stripped + e.n_metal + e.n_dead + e.n_in_seed
    st = e.state_arr.reshape(e.nz, e.ncol)
    z_seed = np.nonzero(st == SEED)[0]
    tops = e.h_arr - 1
    at_top = sum(st[tops[c], c] == SEED for c in range(e.ncol))
    riding = np.count_nonzero(e.load_arr[e.state_arr == SEED] & RIDE_BIT)
    if material == "Ag":
        assert np.count_nonzero(z_seed > zc) > 0
        assert riding == 0 and seed_at_interface(e) < 0.2
    else:
        # every riding particle is at the interface, every other one on the collector
        assert 0.3 < riding / len(z_seed) < 0.7
        assert at_top == riding and seed_at_interface(e) == riding / len(z_seed)
        assert np.count_nonzero(z_seed == zc) == len(z_seed) - riding
    e.set_mode("strip")
    while STOP_REASONS[e.advance(20000, INF, 10 ** 9, 0.5)] == "events":
        assert e.n_plated == e.n_stripped + e.n_metal + e.n_dead + e.n_in_seed
    z_after = np.nonzero(e.state_arr.reshape(e.nz, e.ncol) == SEED)[0]
    assert z_after.mean() < zc + 1.0           # seeds back at the collector
    assert e.n_plated == e.n_stripped + e.n_metal + e.n_dead + e.n_in_seed


def test_nucleation_overpotential_record(tmp_path):
    """The first plating's nucleation dip: ~18 mV on bare Cu, ~0 on a seed layer."""
    from kmc.runner import run_new
    for material, lo, hi in (("none", 10.0, 30.0), ("Ag", -0.1, 5.0)):
        cfg = cfg_for(material, **{"output.timeseries_interval_s": 120.0})
        run_new(cfg, tmp_path / material, progress=False)
        import json
        rec = json.loads((tmp_path / material / "summary.json").read_text())["cycles"][0]
        assert lo <= rec["nucleation_overpotential_mV"] <= hi, (material, rec)
        assert "in_seed_mAh_cm2" in rec and "islands_end_of_strip" in rec


def test_materials_file_sources_and_precedence():
    """Every materials value has a source; a config value beats the materials file; 'none'
    falls back to the schema defaults; an unknown file is a config error."""
    import tomllib
    with open(C.materials_file("li_lpsc"), "rb") as f:
        data = tomllib.load(f)
    sources = data.pop("sources")
    for sec, table in data.items():
        for name in table:
            assert sources.get(f"{sec}.{name}", "").strip(), f"{sec}.{name} has no source"
            assert f"{sec}.{name}" in {k.path for k in C.KEYS}
    cfg = C.with_overrides({"kinetics.exchange_current_mA_cm2": 2.0})
    assert cfg["kinetics"]["exchange_current_mA_cm2"] == 2.0
    assert cfg["kinetics"]["transfer_coefficient"] == data["kinetics"]["transfer_coefficient"]
    none = C.with_overrides({"cell.materials": "none"})
    assert none["kinetics"]["exchange_current_mA_cm2"] == \
        C.KEY_BY_PATH["kinetics.exchange_current_mA_cm2"].default
    with pytest.raises(C.ConfigError, match="cell.materials"):
        C.with_overrides({"cell.materials": "unobtainium"})


def riding_face_lattice(dim, bond_eV, neighbour=False):
    """A flat metal film whose face carries one riding seed (and, with neighbour, a
    second seed beside it); metal hops, adatoms, creep and the interphase off: only the
    particle moves."""
    cfg = cfg_for("Au", dim=dim, **{"diffusion.self_diffusivity_cm2_s": 0.0,
                                    "nucleation.interfacial_diffusivity_um2_s": 0.0,
                                    "cell.stack_pressure_MPa": 0.0,
                                    "interphase.kind": "none",
                                    "seed.particle_diffusivity_cm2_s": 1e-12,
                                    "seed.particle_bond_eV": bond_eV})
    units = Units(cfg)
    nx, ny, zc, nz = 16, (16 if dim == 3 else 1), 1, 6
    params = engine_params(cfg, units, nx * ny)
    st = np.full((nz, ny, nx), ELECTROLYTE, dtype=np.uint8)
    ld = np.zeros_like(st)
    st[:zc] = COLLECTOR
    st[zc:zc + 3] = METAL
    st[zc + 2, ny // 2, nx // 2] = SEED
    ld[zc + 2, ny // 2, nx // 2] = RIDE_BIT | (3 << 4)
    if neighbour:
        st[zc + 2, ny // 2, nx // 2 + 1] = SEED           # a non-riding seed beside it
        ld[zc + 2, ny // 2, nx // 2 + 1] = 3 << 4
    h = np.full((ny, nx), zc + 3, dtype=np.intc)
    eng = Engine(nx, ny, nz, zc, 1, params, bit_generator(300 + dim))
    eng.load_lattice(st.reshape(-1), h.reshape(-1), ld.reshape(-1))
    eng.set_mode("rest")
    return eng, params, units, (nx, ny, nz, zc)


@pytest.mark.parametrize("dim, windows", [(3, 4000), (2, 8000)])
def test_riding_particle_msd_matches_its_diffusivity(dim, windows):
    """A lone riding particle on a flat face random-walks along the interface: its rate is
    2 d_lat D / a^2 and its lateral MSD = 2 d_lat D t within 5 %; it stays on the face."""
    eng, params, units, (nx, ny, nz, zc) = riding_face_lattice(dim, 0.1)
    d_lat = dim - 1
    k = params["k_ride"]
    assert k == pytest.approx(1e-12 / units.a_cm ** 2)
    assert eng.totals[0] == pytest.approx(2 * d_lat * k, rel=1e-12)
    T = 10 / (2 * d_lat * k)
    ncol = nx * ny

    def where():
        s = int(np.flatnonzero(eng.state_arr == SEED)[0])
        assert s // ncol == zc + 2 and np.all(eng.h_arr == zc + 3)
        return np.array(divmod(s % ncol, nx))          # (y, x)

    pos = where()
    period = np.array([ny, nx])
    half = period // 2
    r2 = np.empty(windows)
    for w in range(windows):
        t_end = eng.t + T
        disp = np.zeros(2, dtype=np.int64)
        while STOP_REASONS[eng.advance(1, t_end, 0, INF)] != "time":
            new = where()
            step = (new - pos + half) % period - half      # (periodic wrap)
            assert np.abs(step).sum() <= 1                 # one neighbour at a time
            disp += step
            pos = new
        r2[w] = float(disp @ disp)
    msd_um2 = r2.mean() * units.a_um ** 2
    want = 2 * d_lat * (1e-12 * 1e8) * T
    assert msd_um2 == pytest.approx(want, rel=0.05)
    assert np.count_nonzero(eng.state_arr == METAL) == nx * ny * 3 - 1


def test_riding_particle_held_by_a_neighbour():
    """Beside another seed, a riding particle leaves exp(-E/kT) slower (E = particle_bond_eV)
    and has one partner fewer; the non-riding seed does not move along the face."""
    free, params, _, _ = riding_face_lattice(3, 0.1)
    held, _, _, _ = riding_face_lattice(3, 0.1, neighbour=True)
    kT = 8.617333262e-5 * 298.15
    assert free.totals[0] == pytest.approx(4 * params["k_ride"], rel=1e-12)
    assert held.totals[0] == pytest.approx(3 * params["k_ride"] * math.exp(-0.1 / kT),
                                           rel=1e-9)
