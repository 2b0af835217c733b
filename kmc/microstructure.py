"""Two-phase electrode microstructures: soft (Na) domains in a continuous metal (Li) matrix.

Paper 004's electrodes are Li metal with 2.5-20 mol % of Na in domains of a few um up to
~10 um, placed at random; Li and Na do not mix. This module builds such a microstructure as
a boolean voxel mask (True = soft domain) on the lattice, or loads one from a voxel image
(e.g. a segmented XCT volume), and describes a mask.

Arrays are indexed [z, y, x] with z = 0 at the collector side; x and y are periodic; 2D
cross-sections have ny = 1 (the x-z plane). Lengths are in um, molar volumes in cm3/mol.
Only numpy is needed (no compiled engine).
"""
import numpy as np

__all__ = ["MOLAR_VOLUME_CM3_MOL", "soft_volume_fraction", "soft_domains", "load_voxel_image",
           "describe"]

# Molar volumes (cm3/mol) of the matrix (Li) and the soft domains (Na).
MOLAR_VOLUME_CM3_MOL = {"Li": 12.97, "Na": 23.78}

# Safety stop of soft_domains: painted domain volume (in box volumes) after which the target
# counts as unreachable (overlapping random domains leave exp(-30) of the box uncovered).
_MAX_PAINTED_BOXES = 30.0


def soft_volume_fraction(mol_percent, v_soft=MOLAR_VOLUME_CM3_MOL["Na"],
                         v_matrix=MOLAR_VOLUME_CM3_MOL["Li"]):
    """Volume fraction (0..1) of the soft phase at mol_percent (mol %) of soft atoms.

    x V_s / (x V_s + (1 - x) V_m) with x = mol_percent / 100 and the molar volumes V_s of the
    soft phase and V_m of the matrix (cm3/mol; default Na in Li): 5 mol % -> 0.0877,
    20 mol % -> 0.314.
    """
    x = mol_percent / 100.0
    return float(x * v_soft / (x * v_soft + (1.0 - x) * v_matrix))


def soft_domains(shape, voxel_um, mol_percent, d_min_um, d_max_um, rng):
    """Boolean mask of shape (nz, ny, nx): True where a soft domain is, at the volume
    fraction soft_volume_fraction(mol_percent) (see random_spheres)."""
    if not 0 <= mol_percent < 100:
        raise ValueError(f"mol_percent {mol_percent} cannot be reached: it must be in [0, 100)"
                         " (the soft domains sit in a continuous matrix)")
    return random_spheres(shape, voxel_um, soft_volume_fraction(mol_percent), d_min_um,
                          d_max_um, rng)


def random_spheres(shape, voxel_um, fraction, d_min_um, d_max_um, rng):
    """Boolean mask of shape (nz, ny, nx): True inside random spheres at a volume fraction.

    Domains are spheres (3D) or, when ny == 1, discs in the x-z plane (the cross-section of
    spheres), with diameters (um) log-uniform in [d_min_um, d_max_um] (equal bounds allowed)
    and centres uniform in the box (edge voxel_um, um); they wrap around in x and y and are
    clipped at z = 0 and z = nz. A voxel belongs to a domain when its centre is inside; the
    voxel holding the centre always does (so domains smaller than a voxel still paint one).
    Domains are added one at a time, overlapping freely, until the soft volume fraction of
    the box reaches `fraction` (it may overshoot by the last domain).
    rng: numpy Generator; the same generator state gives the same mask.
    Raises ValueError for d_min_um > d_max_um, non-positive sizes, or a fraction still short
    after 30 box volumes of domains (e.g. domains that can only fill part of the box).
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be (nz, ny, nx) of positive sizes, got {shape}")
    if d_min_um > d_max_um:
        raise ValueError(f"d_min_um ({d_min_um}) > d_max_um ({d_max_um})")
    mask = np.zeros(shape, dtype=bool)
    if fraction <= 0:
        return mask
    if voxel_um <= 0 or d_min_um <= 0:
        raise ValueError(f"voxel_um ({voxel_um}) and d_min_um ({d_min_um}) must be > 0")
    target = fraction * mask.size
    size_um = np.array(shape) * voxel_um
    flat = shape[1] == 1                       # 2D: discs in the x-z plane
    log_d = np.log([d_min_um, d_max_um])
    filled = painted = 0
    while filled < target:
        if painted > _MAX_PAINTED_BOXES * mask.size:
            raise ValueError(f"fraction {target / mask.size:.4f} not reached after "
                             f"painting {_MAX_PAINTED_BOXES:g} box volumes of domains")
        radius = 0.5 * np.exp(rng.uniform(*log_d))
        centre = rng.random(3) * size_um
        axes = []                              # per axis: voxel indices and offsets (um)
        for n, c, periodic in zip(shape, centre, (False, True, True)):
            if periodic and flat and n == 1:
                axes.append((np.zeros(1, dtype=int), np.zeros(1)))
                continue
            lo = int(np.floor((c - radius) / voxel_um - 0.5))
            hi = int(np.ceil((c + radius) / voxel_um - 0.5))
            if periodic:
                idx = np.unique(np.arange(lo, hi + 1) % n)
                off = (idx + 0.5) * voxel_um - c
                off -= n * voxel_um * np.round(off / (n * voxel_um))   # nearest image
            else:
                idx = np.arange(max(lo, 0), min(hi, n - 1) + 1)
                off = (idx + 0.5) * voxel_um - c
            axes.append((idx, off))
        (iz, dz), (iy, dy), (ix, dx) = axes
        inside = (dz[:, None, None] ** 2 + dy[None, :, None] ** 2
                  + dx[None, None, :] ** 2) <= radius ** 2
        inside[tuple(np.argmin(np.abs(off)) for _, off in axes)] = True   # centre voxel
        region = np.ix_(iz, iy, ix)
        before = mask[region]
        after = before | inside
        mask[region] = after
        filled += int(after.sum()) - int(before.sum())
        painted += int(inside.sum())
    return mask


def load_voxel_image(path, shape=None):
    """Boolean mask (nz, ny, nx) from a .npy voxel image: nonzero = soft.

    The image has any integer or bool dtype and shape (nz, ny, nx), or (nz, nx), read as
    ny = 1 (z = 0 is the collector side). shape: the expected (nz, ny, nx) (None: any).
    Raises ValueError naming the file and both shapes when they differ, or for another
    dtype or number of dimensions.
    """
    img = np.load(path, allow_pickle=False)
    if not (np.issubdtype(img.dtype, np.integer) or img.dtype == bool):
        raise ValueError(f"{path}: voxel image must have an integer or bool dtype, "
                         f"not {img.dtype}")
    if img.ndim == 2:
        img = img[:, None, :]
    if img.ndim != 3:
        raise ValueError(f"{path}: voxel image must be (nz, ny, nx) or (nz, nx), "
                         f"got shape {img.shape}")
    if shape is not None and img.shape != tuple(shape):
        raise ValueError(f"{path}: voxel image has shape {img.shape}, expected {tuple(shape)}")
    return img != 0


def _labels(mask):
    """Connected-component label (one int per True voxel, in np.flatnonzero order) of a
    (nz, ny, nx) mask, 6-connectivity, not periodic: union-find by vectorised hooking of
    the larger root onto the smaller and pointer jumping. Labels are the smallest member."""
    index = np.full(mask.shape, -1, dtype=np.int64)
    index[mask] = np.arange(int(mask.sum()))
    pairs = []
    for axis in range(3):
        a = np.moveaxis(index, axis, 0)
        u, v = a[:-1].ravel(), a[1:].ravel()
        keep = (u >= 0) & (v >= 0)
        pairs.append((u[keep], v[keep]))
    u = np.concatenate([p[0] for p in pairs])
    v = np.concatenate([p[1] for p in pairs])
    parent = np.arange(int(mask.sum()))
    while True:
        pu, pv = parent[u], parent[v]           # roots: parent is fully compressed
        differ = pu != pv
        if not differ.any():
            return parent
        np.minimum.at(parent, np.maximum(pu, pv)[differ], np.minimum(pu, pv)[differ])
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped


def describe(mask, voxel_um):
    """Summary of a soft-domain mask (nz, ny, nx) with voxel edge voxel_um (um).

    volume_fraction: True voxels / all voxels (0..1); n_domains: connected domains
    (6-connectivity, not periodic); mean_equivalent_diameter_um: mean over domains of the
    diameter (um) of the sphere of the same volume, or for ny == 1 of the disc of the same
    area (nan when there is no domain).
    """
    mask = np.asarray(mask, dtype=bool)
    labels = _labels(mask)
    _, counts = np.unique(labels, return_counts=True)
    if mask.shape[1] == 1:
        diam = np.sqrt(4.0 * counts * voxel_um ** 2 / np.pi)
    else:
        diam = np.cbrt(6.0 * counts * voxel_um ** 3 / np.pi)
    return {"volume_fraction": float(mask.mean()), "n_domains": int(counts.size),
            "mean_equivalent_diameter_um": float(diam.mean()) if counts.size else float("nan")}
