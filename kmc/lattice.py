"""Build an engine and its starting lattice from a resolved configuration."""
import numpy as np

from kmc._engine import Engine
from kmc.phases import COLLECTOR, ELECTROLYTE
from kmc.rates import Units, engine_params, lattice_shape


def bit_generator(seed, replica=None):
    """PCG64 stream of a run: SeedSequence(seed), or (seed, spawn_key=(replica,))."""
    if replica is None:
        return np.random.PCG64(np.random.SeedSequence(seed))
    return np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(replica,)))


def anode_free_lattice(nx, ny, nz, collector_layers):
    """Bare collector below, separator pressed onto it: (state[nsite], h[ncol])."""
    state = np.full((nz, ny, nx), ELECTROLYTE, dtype=np.uint8)
    state[:collector_layers] = COLLECTOR
    h = np.full(nx * ny, collector_layers, dtype=np.intc)
    return state.reshape(-1), h


def build_engine(cfg, bitgen=None):
    """(engine, units) for a resolved config, on the anode-free starting lattice."""
    units = Units(cfg)
    nx, ny, nz, zc, step, span = lattice_shape(cfg, units)
    if bitgen is None:
        bitgen = bit_generator(cfg["run"]["seed"])
    engine = Engine(nx, ny, nz, zc, step, engine_params(cfg, units, nx * ny), bitgen,
                    span=span)
    state, h = anode_free_lattice(nx, ny, nz, zc)
    engine.load_lattice(state, h)
    return engine, units
