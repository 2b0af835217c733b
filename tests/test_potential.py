"""Electrolyte potential solver (kmc/potential.py): the Fourier kernel against a finite-volume
solution of Laplace's equation in the band, charge conservation, and 001's island model."""
import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from analysis.island_overpotential import island_eta
from kmc.potential import drop_kernel, solve

B = 2 * 8.314462618 * 298.15 / 96485.33212     # 2RT/F (V)


def finite_volume_bottom_potential(i_bottom, a_cm, L_cm, nz, kappa):
    """Bottom-face potential (mean removed) of a periodic 2D slab: flux i_bottom (A/cm2) out of
    the bottom, its mean in at the top; cell-centred finite volumes, nz rows."""
    nx = i_bottom.size
    dz = L_cm / nz
    n = nx * nz
    idx = np.arange(n).reshape(nz, nx)
    rows, cols, vals = [], [], []
    rhs = np.zeros(n)
    for z in range(nz):
        for x in range(nx):
            k = idx[z, x]
            for dzz, dxx, w in ((0, 1, dz / a_cm), (0, -1, dz / a_cm), (1, 0, a_cm / dz),
                                (-1, 0, a_cm / dz)):
                zz, xx = z + dzz, (x + dxx) % nx
                if 0 <= zz < nz:
                    rows += [k, k]
                    cols += [k, idx[zz, xx]]
                    vals += [-kappa * w, kappa * w]
            if z == 0:
                rhs[k] += i_bottom[x] * a_cm          # current leaving through the bottom
            if z == nz - 1:
                rhs[k] -= i_bottom.mean() * a_cm     # the same current entering on top
    A = sp.csr_matrix((vals, (rows, cols)), shape=(n, n)) + sp.eye(n) * 1e-12
    phi = spla.spsolve(A.tocsc(), rhs)
    bottom = phi.reshape(nz, nx)[0]
    # extrapolate from the first cell centre to the face: dphi/dz = i / kappa
    bottom = bottom - i_bottom / kappa * dz / 2
    return bottom - bottom.mean()


def test_kernel_matches_finite_volume_laplace():
    nx, a_um, L_um, kappa = 64, 0.5, 8.0, 1.8e-3
    x = np.arange(nx)
    i_mA = np.where((x > 20) & (x < 36), 2.0, 0.0) + 0.3 * np.cos(2 * np.pi * x / nx)
    G = drop_kernel(nx, 1, a_um, L_um, kappa * 1e3)
    phi_spec = np.real(np.fft.ifft2(np.fft.fft2(i_mA[None, :]) * G))[0]
    phi_fv = finite_volume_bottom_potential(i_mA * 1e-3, a_um * 1e-4, L_um * 1e-4, 64, kappa)
    # the kernel's sign convention: phi is the extra drop where current concentrates
    err = np.abs(phi_spec + phi_fv).max() / np.abs(phi_fv).max()
    assert err < 0.03


def test_solution_carries_the_applied_current_and_uniform_contacts_are_uniform():
    G = drop_kernel(32, 32, 0.1, 15.0, 1.8)
    rng = np.random.default_rng(3)
    active = rng.random((32, 32)) < 0.3
    V, phi, i = solve(active, np.zeros(active.shape), 0.25, 0.5, 0.5, 298.15, G)
    assert i.mean() == pytest.approx(0.25, rel=1e-9)
    assert np.all(i[~active] == 0)
    full = np.ones((32, 32), bool)
    V, phi, i = solve(full, np.zeros(full.shape), 0.25, 0.5, 0.5, 298.15, G)
    assert np.abs(phi).max() < 1e-12
    assert V == pytest.approx(B * math.asinh(0.25 / (2 * 0.5)), abs=1e-9)


def test_island_overpotentials_of_paper_001():
    """With the Li/LPSC j0 the island model gives 001's values; charge transfer dominates
    (Wagner number >> 1), so the result is Butler-Volmer at j x 50 / w to within 2 %. With a
    200x lower conductivity the ohmic drop adds to it and the current crowds to the edges."""
    for w, paper in ((20.0, 0.03), (5.0, 0.085)):
        eta = island_eta(w, 0.25, 0.5, 0.5, 1.8)
        assert abs(eta / paper - 1) < 0.3
        assert eta == pytest.approx(B * math.asinh(0.25 * 50 / w / (2 * 0.5)), rel=0.02)
    nx = 500
    xc = (np.arange(nx) + 0.5) * 0.1
    active = (np.abs(xc - 25) < 10)[None, :]
    V, phi, i = solve(active, np.zeros(active.shape), 0.25, 0.5, 0.5, 298.15,
                      drop_kernel(nx, 1, 0.1, 15.0, 1.8 / 200))
    on = i[0][active[0]]
    assert on[0] > 1.1 * on[on.size // 2]
