"""Electrolyte potential above the interface and the local current distribution it sets.

The separator band of thickness L above the interface obeys div(kappa grad phi) = 0. Its top
face carries the applied current density j uniformly; its bottom face (the interface, taken
flat at the mean interface height) carries the local current i(x, y) at active contacts and no
flux at voids, bare collector without a nucleation path, and ion-blocking phases. For a
laterally periodic slab the bottom-face potential follows from i in Fourier space exactly:

    phi_k = i_k / (kappa |k| tanh(|k| L))        (k != 0; the k = 0 part is the uniform
                                                   ohmic drop j L / kappa, added to the voltage)

At each active column the local electrode overpotential is eta_c = V - onset_c - phi_c and
Butler-Volmer gives i_c = j0 bv(eta_c). V (the electrode overpotential) is set by the applied
current: mean(i) = j. The two are iterated to a fixed point (damped; phi is small compared
with eta when the Wagner number kappa R_ct / L is large, as for Li/LPSC).

Units: lengths um, current densities mA/cm2, conductivity mS/cm, potentials V.
"""
import math

import numpy as np
from scipy.optimize import brentq

from kmc._engine import CLASSES
from kmc.rates import FARADAY, GAS_R, engine_params


def drop_kernel(nx, ny, a_um, band_um, kappa_mS_cm):
    """Fourier multiplier (V per mA/cm2) from the bottom-face current to its potential."""
    a_cm, L = a_um * 1e-4, band_um * 1e-4
    kx = 2 * np.pi * np.fft.fftfreq(nx, d=a_cm)
    ky = 2 * np.pi * np.fft.fftfreq(ny, d=a_cm)
    k = np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)
    G = np.zeros_like(k)
    nz = k > 0
    G[nz] = 1e-3 / (kappa_mS_cm * 1e-3 * k[nz] * np.tanh(k[nz] * L))
    return G


def butler_volmer(x, alpha, f_rt):
    """Current in units of j0 at overpotential x (V) past the onset; zero below it."""
    x = np.maximum(x, 0.0)
    return np.exp(alpha * f_rt * x) - np.exp(-(1.0 - alpha) * f_rt * x)


def solve(active, onset, j, j0, alpha, T, G, tol_V=1e-7, max_iter=200):
    """Local current on a (ny, nx) interface.

    active: bool map of columns that can react; onset: map (V) of each column's onset;
    j (mA/cm2); j0 (mA/cm2, a number or a map per column); alpha; T (K); G from drop_kernel.
    Returns (V, phi, i): electrode overpotential (V), bottom-face potential map (V, mean 0),
    local current map (mA/cm2, zero where inactive).
    """
    f_rt = FARADAY / (GAS_R * T)
    n = active.size
    phi = np.zeros(active.shape)
    if not active.any():
        return math.inf, phi, np.zeros(active.shape)

    def mean_current(V):
        return (j0 * butler_volmer(V - onset - phi, alpha, f_rt))[active].sum() / n

    V = math.nan
    for _ in range(max_iter):
        lo = float((onset + phi)[active].min())
        hi = lo + 0.05
        while mean_current(hi) < j:
            hi += 2 * (hi - lo)
        V = brentq(lambda v: mean_current(v) - j, lo, hi, xtol=1e-12)
        i = np.where(active, j0 * butler_volmer(V - onset - phi, alpha, f_rt), 0.0)
        new_phi = np.real(np.fft.ifft2(np.fft.fft2(i) * G))
        change = float(np.abs(new_phi - phi).max())
        phi = 0.5 * (phi + new_phi)
        if change < tol_V:
            break
    return V, phi, i


class PotentialSolver:
    """The solver set up once for a run: the Fourier kernel of its lattice and the onset (V)
    of each echem class, from the same conversion the engine's rates come from."""

    def __init__(self, cfg, units, engine):
        kin = cfg["kinetics"]
        self.G = drop_kernel(engine.nx, engine.ny, units.a_um, kin["potential_band_um"],
                             kin["electrolyte_conductivity_mS_cm"])
        params = engine_params(cfg, units, engine.ncol)
        self.onset_by_class = np.asarray(params["onset"])
        self.gain_by_class = np.asarray(params["gain"])
        self.j = cfg["protocol"]["current_density_mA_cm2"]
        self.j0 = kin["exchange_current_mA_cm2"]
        self.alpha = kin["transfer_coefficient"]
        self.T = cfg["cell"]["temperature_K"]

    def local_factors(self, engine):
        """Per-column factors for the engine: local current over the current the column would
        carry at a uniform potential (1 for inactive columns)."""
        cls = engine.cls_arr.reshape(engine.ny, engine.nx)
        active = cls != CLASSES["none"]
        onset = self.onset_by_class[cls]
        j0 = self.j0 * self.gain_by_class[cls]
        V, phi, i = solve(active, onset, self.j, j0, self.alpha, self.T, self.G)
        lf = np.ones(cls.shape)
        if active.any():
            uniform = j0 * butler_volmer(V - onset, self.alpha,
                                              f_rt=FARADAY / (GAS_R * self.T))
            ok = active & (uniform > 0)
            lf[ok] = i[ok] / uniform[ok]
        return lf.reshape(-1)
