"""Observables computed from the engine's lattice: contact, thickness, islands, inventory.

All functions read numpy views of the engine (no engine state is changed). Units are given in
each name: um, um2, mAh/cm2; fractions are of the lateral area.
"""
import numpy as np
from scipy import ndimage

from kmc.phases import COLLECTOR, DEAD, EMPTY, INTERPHASE, METAL, SEED, SOFT


def lattice_view(engine):
    """The site states as a (nz, ny, nx) array view."""
    return engine.state_arr.reshape(engine.nz, engine.ny, engine.nx)


def contact(engine):
    """Fractions of the separator face touching each kind of site (from the engine's counts).

    contact_fraction: electronically connected conductor (active metal, collector, seed,
    soft phase);
    contact_active: active metal; contact_collector: bare collector; contact_dead: dead metal;
    contact_soft: soft phase; contact_interphase: interphase (SEI);
    void_fraction_interface: voids/gaps under the separator.
    """
    top = engine.top_counts()
    n = float(engine.ncol)
    return {
        "contact_fraction": (top[METAL] + top[COLLECTOR] + top[SEED] + top[SOFT]) / n,
        "contact_active": top[METAL] / n,
        "contact_seed": top[SEED] / n,
        "contact_collector": top[COLLECTOR] / n,
        "contact_dead": top[DEAD] / n,
        "contact_soft": top[SOFT] / n,
        "contact_interphase": top[INTERPHASE] / n,
        "void_fraction_interface": top[EMPTY] / n,
    }


def seed_at_interface(engine):
    """Fraction of the seed voxels that are their column's top site, i.e. at the electrolyte
    interface (001: about half of a Au film rides there, Ag mostly dissolves); None
    without a seed."""
    n = int(np.count_nonzero(engine.state_arr == SEED))
    return int(engine.top_counts()[SEED]) / n if n else None


def seed_coverage(engine):
    """Fraction of the columns holding seed (001: the Au and Ag come back to the collector
    at the end of every strip as a uniform layer, and clump after about 5 cycles); None
    without a seed."""
    seed = engine.state_arr.reshape(engine.nz, engine.ncol) == SEED
    return float(np.count_nonzero(seed.any(axis=0))) / engine.ncol if seed.any() else None


def interphase_voxels(engine):
    """Metal consumed by interphase growth (voxels): film voxels in the lattice plus the
    metal a thin (unresolved) interphase consumed."""
    return int(engine.n_interphase) + int(engine.n_consumed)


def interphase_thickness_um(engine, a_um):
    """Mean interphase thickness over the interface (um), as the metal it consumed per
    column."""
    return interphase_voxels(engine) / engine.ncol * a_um


def metal_columns(engine):
    """Metal voxels (active + dead) per column, shape (ny, nx)."""
    st = lattice_view(engine)
    return ((st == METAL) | (st == DEAD)).sum(axis=0)


def thickness_stats(engine, a_um):
    """Mean, standard deviation and maximum of the plated-metal thickness map (um)."""
    t = metal_columns(engine) * a_um
    return {"thickness_mean_um": float(t.mean()), "thickness_std_um": float(t.std()),
            "thickness_max_um": float(t.max())}


def periodic_label(mask):
    """Connected components of a 1D or 2D boolean mask, periodic along every axis.

    Returns (labels, n) like scipy.ndimage.label, with components that touch across a
    periodic edge merged.
    """
    labels, n = ndimage.label(mask)
    if n == 0:
        return labels, 0
    parent = np.arange(n + 1)

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for axis in range(mask.ndim):
        first = np.take(labels, 0, axis=axis)
        last = np.take(labels, -1, axis=axis)
        for a, b in zip(first.ravel(), last.ravel()):
            if a and b:
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(i) for i in range(n + 1)])
    uniq, relabel = np.unique(roots, return_inverse=True)
    return relabel[labels], len(uniq) - 1


def _footprint_islands(engine, mask, per_col):
    """Periodic components of a (ny, nx) column mask (a line in 2D): their areas in columns
    and the metal voxels per_col holds over each."""
    if engine.ny == 1:
        mask, per_col = mask[0], per_col[0]
    labels, n = periodic_label(mask)
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    volumes = np.bincount(labels.ravel(), weights=per_col.ravel(), minlength=n + 1)[1:]
    return areas, volumes


def islands(engine, a_um):
    """Islands of metal seen from above: connected footprints of columns holding metal.

    Returns a list of (footprint area um2, volume in voxels), largest area first. In 2D the
    footprint is a length (um) and the area is that length times one voxel.
    """
    per_col = metal_columns(engine)
    areas, volumes = _footprint_islands(engine, per_col > 0, per_col)
    areas = areas * a_um * a_um
    order = np.argsort(-areas, kind="stable")
    return [(float(areas[i]), int(volumes[i])) for i in order]


def nucleus_density_um2(engine, a_um, critical_size):
    """Stable nuclei per um2 on the collector: islands of metal touching the collector whose
    volume exceeds the critical size. A 2D cross-section counts nuclei per um of line; the
    areal density is taken as the square of that line density."""
    st = lattice_view(engine)
    # metal sitting directly on the collector (its top layer when flat; a rough or porous
    # collector's surface lies at different heights per column)
    on_collector = ((st[1:] == METAL) & (st[:-1] == COLLECTOR)).any(axis=0)
    _, volumes = _footprint_islands(engine, on_collector, metal_columns(engine))
    stable = int(np.count_nonzero(volumes > critical_size))
    if engine.ny == 1:
        return (stable / (engine.nx * a_um)) ** 2
    return stable / (engine.ncol * a_um * a_um)


def below_surface(engine, surface):
    """Boolean mask (nsite) of the sites below the collector's top surface (voxels per
    column): its pores. None for a flat collector."""
    z = np.arange(engine.nz)[:, None]
    mask = z < np.asarray(surface).reshape(1, -1)
    mask &= lattice_view(engine).reshape(engine.nz, -1) != COLLECTOR
    return mask.reshape(-1) if mask.any() else None


def trapped(engine, pores):
    """Live metal voxels inside collector pores (connected, but not at the interface)."""
    if pores is None:
        return 0
    return int(np.count_nonzero(engine.state_arr[pores] == METAL))


def inventory(engine, initial=0, pores=None):
    """Metal inventory in voxels; initial (the starting electrode) + plated = stripped + dead
    + interphase + trapped + in_seed + active holds exactly (checked by check_inventory).
    trapped: live metal in collector pores (pores: mask of below_surface); active: the rest
    of the live metal."""
    n_trapped = trapped(engine, pores)
    return {"initial": int(initial), "plated": int(engine.n_plated),
            "stripped": int(engine.n_stripped),
            "dead": int(engine.n_dead), "interphase": interphase_voxels(engine),
            "trapped": n_trapped,
            "in_seed": int(engine.n_in_seed),
            "active": int(engine.n_metal) - n_trapped}


def check_inventory(engine, initial=0, pores=None):
    """Recount the lattice and verify the inventory balance; returns an error text or None."""
    inv = inventory(engine, initial, pores)
    st = engine.state_arr
    counted_active = int(np.count_nonzero(st == METAL)) - inv["trapped"]
    counted_dead = int(np.count_nonzero(st == DEAD))
    if counted_active != inv["active"] or counted_dead != inv["dead"]:
        return (f"lattice holds {counted_active} active and {counted_dead} dead voxels, "
                f"counters say {inv['active']} and {inv['dead']}")
    counted_interphase = int(np.count_nonzero(st == INTERPHASE))
    if counted_interphase != engine.n_interphase:
        return (f"lattice holds {counted_interphase} interphase voxels, the counter says "
                f"{engine.n_interphase}")
    counted_seed = int((engine.load_arr[st == SEED] & 15).sum())
    if counted_seed != inv["in_seed"]:
        return f"seeds hold {counted_seed} metal units, the counter says {inv['in_seed']}"
    rhs = sum(inv[k] for k in ("stripped", "dead", "interphase", "trapped", "in_seed", "active"))
    if rhs != inv["initial"] + inv["plated"]:
        return (f"inventory imbalance: initial {inv['initial']} + plated {inv['plated']} "
                f"!= {rhs}")
    return None
