"""Current-collector geometry: flat, a rigid rough foil, or a porous pressed-powder pellet (000).

The collector fills the bottom of the lattice; its top surface is a height map (voxels) and
the separator starts on it:
  flat    one collector layer, separator pressed onto it (the original anode-free start);
  foil    a rigid rough surface (Gaussian heights of rms `collector.roughness_um` and lateral
          correlation `collector.correlation_um`, plus an optional long-wavelength waviness of
          rms `collector.waviness_um` and correlation `collector.waviness_correlation_um`:
          a rolled foil is not flat over tens of um, 000's pressure film shows it carries
          the load unevenly); the rigid separator is pressed into the
          relief only as far as the contact can carry the stack pressure: the contact area
          fraction is P / H (Bowden-Tabor; H = `collector.hardness_MPa`), so the valleys
          below that plane stay gaps;
  pellet  the same relief, met conformally by the separator (pellet and electrolyte are
          pressed together, 000), with pores of diameter `collector.pore_um` at volume
          fraction `collector.porosity` below the surface, open where they cut it.
The separator can never settle below its starting height (the collector is rigid): the
engine's floor per column. Metal that enters a pore and is cut off from the electrolyte is
trapped (kmc.observables.inventory).
"""
import math

import numpy as np

from kmc.microstructure import random_spheres
from kmc.phases import COLLECTOR, ELECTROLYTE, EMPTY


def collector_layers(cfg, a_um):
    """Layers of the lattice the collector may occupy (1 for a flat collector): its modelled
    depth plus room for +-3 rms of relief."""
    col = cfg["collector"]
    if col["kind"] == "flat":
        return 1
    return 1 + math.ceil(col["depth_um"] / a_um) + 2 * math.ceil(3 * relief_rms_um(col) / a_um)


def relief_rms_um(col):
    """Rms height (um) of the whole relief: roughness and waviness are independent."""
    return math.hypot(col["roughness_um"], col["waviness_um"])


def rough_surface(nx, ny, a_um, rms_um, corr_um, rng):
    """Surface heights (um, mean 0, rms rms_um) per column, shape (ny, nx): white noise
    smoothed by a periodic Gaussian of width corr_um."""
    noise = rng.standard_normal((ny, nx))
    if rms_um <= 0:
        return np.zeros((ny, nx))
    ky = np.fft.fftfreq(ny, d=a_um)[:, None]
    kx = np.fft.fftfreq(nx, d=a_um)[None, :]
    kernel = np.exp(-2 * (math.pi * corr_um) ** 2 * (kx ** 2 + (ky ** 2 if ny > 1 else 0)))
    field = np.real(np.fft.ifft2(np.fft.fft2(noise) * kernel))
    std = field.std()
    return field * (rms_um / std) if std > 0 else field


def build_collector(cfg, units, nx, ny, nz, rng):
    """(state[nsite], h[ncol], floor[ncol], surface[ncol]) of the collector and separator
    before anything is plated; surface: the collector's top (voxels) per column."""
    col = cfg["collector"]
    a = units.a_um
    ncol = nx * ny
    zc = collector_layers(cfg, a)
    state = np.full((nz, ny, nx), ELECTROLYTE, dtype=np.uint8)
    if col["kind"] == "flat":
        state[:zc] = COLLECTOR
        h = np.full(ncol, zc, dtype=np.intc)
        return state.reshape(-1), h, np.zeros(ncol, dtype=np.intc), h.copy()
    relief = rough_surface(nx, ny, a, col["roughness_um"], col["correlation_um"], rng)
    if col["waviness_um"] > 0:               # drawn only when set: flat-foil runs keep their RNG
        relief = relief + rough_surface(nx, ny, a, col["waviness_um"],
                                        col["waviness_correlation_um"], rng)
    mid = zc - math.ceil(3 * relief_rms_um(col) / a)
    top = np.clip(mid + np.rint(relief / a).astype(int), 1, zc).reshape(-1)
    z = np.arange(nz)[:, None]
    solid = z < top[None, :]
    if col["porosity"] > 0:
        pores = random_spheres((zc, ny, nx), a, col["porosity"], col["pore_um"],
                               col["pore_um"], rng).reshape(zc, ncol)
        pores[0] = False                      # a dense base layer keeps every pore conducting
        solid[:zc] &= ~pores
    flat = state.reshape(nz, ncol)
    flat[solid] = COLLECTOR
    below = z < top[None, :]
    flat[below & ~solid] = EMPTY               # pores
    if col["kind"] == "pellet":
        h = top.astype(np.intc)
    else:
        # the highest ceil(f ncol) asperities (by the continuous relief) touch the separator,
        # which lies on them; every other column keeps a gap of at least one voxel
        frac = min(1.0, cfg["cell"]["stack_pressure_MPa"] / col["hardness_MPa"])
        touching = np.zeros(ncol, dtype=bool)
        touching[np.argsort(-relief.reshape(-1), kind="stable")[:max(1, math.ceil(frac * ncol))]] = True
        plane = top[touching].min()
        h = np.where(touching, top, np.maximum(top + 1, plane)).astype(np.intc)
        flat[(z >= top[None, :]) & (z < h[None, :])] = EMPTY   # gaps over the valleys
    return state.reshape(-1), h, h.copy(), top.astype(np.intc)
