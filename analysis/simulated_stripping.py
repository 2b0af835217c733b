"""Paper 004's simulated stripping of a two-phase (Li + Na) electrode volume.

    python analysis/simulated_stripping.py INPUT [--voxel-um A] [--max-depth-um D] [--every K]

INPUT: a .npy voxel image (nonzero = Na; (nz, ny, nx) or (nz, nx), z = 0 at the collector,
needs --voxel-um), a snapshot .npz, or a run folder (its first snapshot in sorted order).
Planar Li layers are removed from the electrolyte side one at a time and the Na voxels met
in each removed layer are projected onto the interface, as 004 does on its XCT volumes.
Prints a header and one line per (every K-th) depth: depth_um, stripped_mAh_cm2 (Li
removed) and na_coverage (fraction of the interface covered by Na). Needs numpy only.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from analysis.load import PHASES, load_run, load_snapshot  # noqa: E402
from kmc.microstructure import MOLAR_VOLUME_CM3_MOL, load_voxel_image  # noqa: E402
from kmc.rates import FARADAY  # noqa: E402  (pure Python: no engine build needed)

__all__ = ["coverage_vs_depth", "mask_from_snapshot", "layer_mAh_cm2"]


def layer_mAh_cm2(voxel_um, molar_volume=MOLAR_VOLUME_CM3_MOL["Li"]):
    """Charge (mAh/cm2) of one full metal layer voxel_um (um) thick of molar volume
    molar_volume (cm3/mol, default Li: 0.2066 mAh/cm2 per um, i.e. 4.84 um per mAh/cm2)."""
    return voxel_um * 1e-4 / molar_volume * FARADAY / 3.6


def coverage_vs_depth(soft_mask, voxel_um, top=None):
    """Na coverage of the interface vs stripped depth.

    soft_mask: (nz, ny, nx) bool, True = Na (z = 0 bottom; every other voxel of the
    electrode counts as Li); voxel_um: voxel edge (um); top: (ny, nx) int, the electrode of
    a column is its layers z < top (default nz everywhere: the whole box). Stripping removes
    one layer per step from the top of every column; a column is covered from the step at
    which its exposed (top remaining) layer or a removed layer holds Na.
    Returns numpy arrays, one row per step k = 0 .. max(top) - 1 (row 0: the pristine top
    layer): depth_um = k voxel_um (um); stripped_mAh_cm2: Li removed in the k layers
    (mAh/cm2 of interface, 4.84 um of Li per mAh/cm2); na_coverage: fraction (0..1) of the
    columns covered; li_coverage = 1 - na_coverage.
    """
    soft_mask = np.asarray(soft_mask, dtype=bool)
    nz, ny, nx = soft_mask.shape
    top = np.full((ny, nx), nz) if top is None else np.asarray(top, dtype=np.int64)
    if top.shape != (ny, nx) or top.min(initial=0) < 0 or top.max(initial=0) > nz:
        raise ValueError(f"top must be (ny, nx) = {(ny, nx)} with values in [0, {nz}]")
    steps = np.arange(int(top.max(initial=0)))
    z = top[None] - 1 - steps[:, None, None]          # (step, y, x): layer exposed at step k
    present = z >= 0
    soft = np.take_along_axis(soft_mask, np.clip(z, 0, None), axis=0) & present
    na = np.logical_or.accumulate(soft, axis=0).mean(axis=(1, 2))
    li = (present & ~soft).sum(axis=(1, 2))           # Li voxels of each step's layer
    removed = np.concatenate([[0], np.cumsum(li)[:-1]])[:steps.size]
    return {"depth_um": steps * float(voxel_um),
            "stripped_mAh_cm2": removed * layer_mAh_cm2(voxel_um) / (ny * nx),
            "na_coverage": na, "li_coverage": 1.0 - na}


def mask_from_snapshot(snap):
    """(soft_mask, top) of a loaded snapshot (analysis.load.load_snapshot): the electrode
    above the collector layers (z >= collector_layers), soft_mask = state == SOFT there,
    top = h - collector_layers (layers, per column; sites at z >= h are electrolyte)."""
    cl = snap["collector_layers"]
    soft = snap["state"][cl:] == PHASES["SOFT"]
    top = np.clip(np.asarray(snap["h"], dtype=np.int64) - cl, 0, soft.shape[0])
    return soft, top


def _load(path, voxel_um):
    """(soft_mask, top, voxel_um) of a CLI INPUT; ValueError/OSError for a bad one."""
    path = Path(path)
    if path.is_dir():
        snaps = load_run(path)["snapshots"]
        if not snaps:
            raise ValueError(f"{path}: run folder has no snapshots")
        path = snaps[0]
    if path.suffix == ".npy":
        if voxel_um is None:
            raise ValueError(f"{path}: a .npy voxel image needs --voxel-um")
        return load_voxel_image(path), None, voxel_um
    if path.suffix != ".npz":
        raise ValueError(f"{path}: expected a .npy voxel image, a snapshot .npz or a run folder")
    snap = load_snapshot(path)
    soft, top = mask_from_snapshot(snap)
    return soft, top, snap["voxel_um"] if voxel_um is None else voxel_um


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", metavar="INPUT")
    ap.add_argument("--voxel-um", type=float, metavar="A", help="voxel edge (um)")
    ap.add_argument("--max-depth-um", type=float, metavar="D", help="last depth printed (um)")
    ap.add_argument("--every", type=int, default=1, metavar="K", help="print every K-th depth")
    args = ap.parse_args(argv)
    try:
        if args.every < 1:
            raise ValueError(f"--every must be >= 1, got {args.every}")
        soft, top, voxel_um = _load(args.input, args.voxel_um)
        res = coverage_vs_depth(soft, voxel_um, top)
    except (OSError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("depth_um stripped_mAh_cm2 na_coverage")
    for k in range(0, res["depth_um"].size, args.every):
        if args.max_depth_um is not None and res["depth_um"][k] > args.max_depth_um + 1e-9:
            break
        print(f"{res['depth_um'][k]:.3f} {res['stripped_mAh_cm2'][k]:.4f} "
              f"{res['na_coverage'][k]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
