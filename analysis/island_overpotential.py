"""Overpotential of an isolated Li island under stripping, from the electrolyte potential solver.

Paper 001's island model: LPSC (kappa 1.8 mS/cm), a 50 um wide x 15 um thick electrolyte with
the applied current on top, zero flux on the sides and on the bottom except at one Li island
with Butler-Volmer kinetics. 001 reports eta = 0.03 V for a 20 um island and 0.085 V for a
5 um island at 0.25 mA/cm2. This script solves the same problem with kmc.potential (a
periodic 50 um cell with the island centred is the same as zero-flux side walls) and the
Li/LPSC materials file, and prints one line per island size.

    python analysis/island_overpotential.py [--sizes 20 5] [--materials li_lpsc]
"""
import argparse
import sys

import numpy as np

from kmc.config import load_materials
from kmc.potential import drop_kernel, solve

WIDTH_UM, BAND_UM, PITCH_UM = 50.0, 15.0, 0.1


def island_eta(size_um, j, j0, alpha, kappa, T=298.15):
    """Current-weighted mean local overpotential (V) of a centred island of size_um."""
    nx = round(WIDTH_UM / PITCH_UM)
    x = (np.arange(nx) + 0.5) * PITCH_UM
    active = (np.abs(x - WIDTH_UM / 2) < size_um / 2)[None, :]
    G = drop_kernel(nx, 1, PITCH_UM, BAND_UM, kappa)
    V, phi, i = solve(active, np.zeros(active.shape), j, j0, alpha, T, G)
    eta_local = V - phi
    return float((eta_local * i).sum() / i.sum())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[20.0, 5.0], metavar="UM")
    ap.add_argument("--materials", default="li_lpsc")
    ap.add_argument("--current", type=float, default=0.25, metavar="MA_CM2")
    args = ap.parse_args(argv)
    kin = load_materials(args.materials)["kinetics"]
    for size in args.sizes:
        eta = island_eta(size, args.current, kin["exchange_current_mA_cm2"],
                         kin["transfer_coefficient"], kin["electrolyte_conductivity_mS_cm"])
        print(f"island {size:g} um: eta {eta:.4f} V")
    return 0


if __name__ == "__main__":
    sys.exit(main())
