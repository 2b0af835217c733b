"""Build an engine and its starting lattice from a resolved configuration."""
import numpy as np

from kmc._engine import Engine
from kmc.collector import build_collector
from kmc.phases import METAL, SEED, SOFT
from kmc.rates import Units, engine_params, lattice_shape
from kmc.schema import SEEDS

MAH_PER_MOL = 96485.33212 / 3.6    # mAh per mole of electrons
RIDE_BIT, CAP_SHIFT = 128, 4       # seed load byte layout (ext/engine.pyx)


def bit_generator(seed, replica=None):
    """PCG64 stream of a run: SeedSequence(seed), or (seed, spawn_key=(replica,))."""
    if replica is None:
        return np.random.PCG64(np.random.SeedSequence(seed))
    return np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(replica,)))


def structure_rng(seed):
    """Random stream for the starting microstructure, independent of the kMC stream."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xA110,)))


def seed_capacity_mAh_cm2(cfg):
    """Lithium capacity of the seed film (mAh/cm2): thickness / molar volume x Li per atom."""
    seed = SEEDS.get(cfg["seed"]["material"])
    if seed is None:
        return 0.0
    mol_cm2 = cfg["seed"]["thickness_nm"] * 1e-7 / seed["molar_volume_cm3_mol"]
    return mol_cm2 * seed["li_per_atom"] * MAH_PER_MOL


def add_seed_layer(cfg, units, state, h, nx, ny, zc, rng):
    """Put the seed film on the collector: thickness / voxel of a layer (random columns for a
    partial layer), each voxel with a capacity (floor or ceil, so that the film holds its
    capacity on average) and, for insoluble seeds, a riding flag. Returns the load bytes."""
    load = np.zeros_like(state)
    material = cfg["seed"]["material"]
    if material == "none" or cfg["seed"]["thickness_nm"] <= 0:
        return load
    ncol = nx * ny
    n_vox = round(cfg["seed"]["thickness_nm"] * 1e-3 / units.a_um * ncol)
    if n_vox == 0:
        return load
    per_voxel = seed_capacity_mAh_cm2(cfg) / units.mAh_cm2_per_layer * ncol / n_vox
    if per_voxel > 7:
        raise ValueError(f"seed capacity {per_voxel:.2f} voxels per seed voxel exceeds 7")
    cols = rng.permutation(ncol)
    lattice = state.reshape(-1, ncol)
    for k in range(n_vox):
        c = cols[k % ncol]
        z = h[c]
        lattice[z, c] = SEED
        cap = int(per_voxel) + (rng.random() < per_voxel - int(per_voxel))
        ride = (not SEEDS[material]["soluble"]) and rng.random() < cfg["seed"]["riding_fraction"]
        load.reshape(-1, ncol)[z, c] = (cap << CAP_SHIFT) | (RIDE_BIT if ride else 0)
        h[c] = z + 1
    return load


def add_starting_electrode(cfg, units, state, h, nx, ny, rng):
    """Put the starting metal electrode (electrode.initial_metal_um thick, whole voxel
    layers) on top of what the collector holds, with its soft domains (generated, or read
    from electrode.microstructure_file). Returns the number of layers."""
    from kmc import microstructure
    el = cfg["electrode"]
    n = round(el["initial_metal_um"] / units.a_um)
    if n == 0:
        return 0
    ncol = nx * ny
    shape = (n, ny, nx)
    if el["microstructure_file"]:
        soft = microstructure.load_voxel_image(el["microstructure_file"], shape)
    else:
        soft = microstructure.soft_domains(shape, units.a_um, el["soft_mol_percent"],
                                           el["soft_domain_min_um"], el["soft_domain_max_um"],
                                           rng)
    lattice = state.reshape(-1, ncol)
    block = np.where(soft.reshape(n, ncol), SOFT, METAL).astype(np.uint8)
    if h.max() + n >= lattice.shape[0]:
        raise ValueError("starting electrode does not fit the lattice: raise lattice.headroom_um")
    for c in range(ncol):
        lattice[h[c]:h[c] + n, c] = block[:, c]
    h += n
    return n


def build_engine(cfg, bitgen=None):
    """(engine, units) for a resolved config: collector, seed film, starting electrode."""
    engine, units, _ = build(cfg, bitgen)
    return engine, units


def build(cfg, bitgen=None):
    """(engine, units, surface): the engine of build_engine and the collector's top surface
    (voxels per column; metal below it sits in collector pores)."""
    units = Units(cfg)
    nx, ny, nz, zc, step, span = lattice_shape(cfg, units)
    if bitgen is None:
        bitgen = bit_generator(cfg["run"]["seed"])
    engine = Engine(nx, ny, nz, zc, step, engine_params(cfg, units, nx * ny), bitgen,
                    span=span)
    rng = structure_rng(cfg["run"]["seed"])
    state, h, floor, surface = build_collector(cfg, units, nx, ny, nz, rng)
    load = add_seed_layer(cfg, units, state, h, nx, ny, zc, rng)
    add_starting_electrode(cfg, units, state, h, nx, ny, rng)
    engine.load_lattice(state, h, load, floor=floor, base=surface)
    return engine, units, surface
