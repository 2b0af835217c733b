"""A slow, plain-Python re-implementation of the event rules of ``ext/engine.pyx``.

This module is the test oracle of the compiled engine (``kmc._engine.Engine``) and, at the
same time, a readable statement of the rules. It keeps none of the engine's incremental
machinery: after every event it recomputes everything from the lattice state, the seed load
bytes, the local current factors and the separator height field alone:

* electronic connectivity by a full flood fill from the COLLECTOR over metal and bridge
  sites (metal reached is METAL, the rest DEAD; bridges, i.e. seeds, the soft phase and
  an electron-conducting interphase, conduct and keep their phase);
* every site's thermal rate, every EMPTY site's list of creep moves, every column's
  electrochemical class and interphase growth rate, the count of columns by top phase and
  by class;
* the sum trees (thermal per site, creep per column at the matrix metal's rate and at the
  soft phase's rate, one per echem class over the columns, interphase growth per column),
  built bottom-up with the layout of ``ext/sumtree.pxd`` (each parent the pairwise sum of
  its eight children, zero padded), so that their floating-point sums are bit-identical to
  the engine's;
* the electrode overpotential, by the same safeguarded Newton iteration as the engine (same
  floating-point operations in the same order, so the same doubles).

Driven with a PCG64 bit generator seeded like the engine's, it consumes the same random
doubles in the same order and must reproduce the engine event for event: same lattice,
loads, heights, same clock (exactly equal floats), same counters and same stop reasons.

Geometry (as in the engine): site ``s = z * ncol + col``, ``col = y * nx + x``; periodic in x
and y (and in z only when ``periodic_z``); ``ny == 1`` means 2D (no y neighbours). Layers
``z < zc`` are COLLECTOR; sites with ``z >= h[col]`` are ELECTROLYTE (the separator), the
sites below hold METAL, DEAD, SEED, SOFT or EMPTY. The separator is rigid over a window: the
columns within Chebyshev distance ``span`` of a column (x only in 2D) may differ in height by
at most ``step`` voxels; plating lifts it, settling and adatom moves must respect it.

Seeds (alloy voxels, phase SEED) carry a load byte: absorbed metal units (bits 0-3), the
capacity (bits 4-6) and a riding flag (bit 7). Their electrochemistry:

* plating onto a live seed at the top of a column: the seed absorbs the unit while it holds
  less than its capacity (no volume change); a full riding seed has the new voxel put under
  it (the seed moves up); a full non-riding seed gets the voxel on top;
* stripping at a live seed on top: the metal right under it goes first (the seed drops into
  its place, leaving a gap at the top); then the first loaded seed of the contiguous seed
  stack from the top down releases its units, on plateau 1 while more than half full, then
  on plateau 2;
* a seed is live when it, or a seed of the contiguous stack below it, has a METAL or
  COLLECTOR face neighbour.

Seeds also exchange places with METAL neighbours (thermal channel, k_seed per neighbour); a
riding seed on top of its column, over METAL, swaps with the in-layer METAL neighbours that are
the tops of their own columns (k_ride exp(-m ride_bond) each, m its in-layer SEED neighbours);
seeds drop into an EMPTY site right below them (a creep move).

The soft secondary phase (SOFT: e.g. Na domains in a Li electrode) is mobile like the metal,
with its own hop table (k_soft); it conducts like a seed (a bridge: no live/dead state, the
connectivity passes through it; the liveness of a bridge on top of a column follows the
contiguous bridge stack under it, seeds and soft voxels alike). Its electrochemistry:

* plating onto a live soft voxel (or any live bridge) on top: C_METAL, the voxel goes on top;
* stripping at a soft voxel on top: C_SOFT when the site right under the contiguous soft
  stack is METAL (else nothing): that metal goes and the stack drops by one (the metal site
  becomes SOFT, the top soft site EMPTY). C_SOFT has its own exchange current: each class's
  weight in the overpotential solve and the class pick is its summed local factors times
  gain[k].

Creep moves run at two rates: the matrix metal's (moves of METAL, DEAD and SEED, settles onto
anything but SOFT) and the soft phase's (a SOFT voxel dropping into a void, settles onto
SOFT, lateral flow of SOFT, which is also allowed from the top site of its own column, where
the separator presses it). A site's creep count is a byte with the matrix-rate moves in bits
0-3 and the soft-rate moves in bits 4-7, as in the engine; each rate has its own column tree.
The two rates come from the contact pressure with load sharing: when soft tops are present
and the mean contact pressure exceeds the soft yield strength, the soft contacts hold their
yield strength and the hard contacts carry the rest (see creep_rate).

The interphase (INTERPHASE, an SEI grown from a reducible electrolyte) is solid and does not
hop; like a seed it rides the electrolyte interface: a film voxel over an EMPTY site is
pressed down into it (a vertical creep move). Parameters sei_k (1/s), sei_linear,
sei_electronic, sei_ionic, sei_bridge:

* sei_bridge: it carries the cell's electrons, i.e. it is a bridge like seeds and soft
  voxels (the connectivity passes through it, a live interphase top takes plated metal on
  top, class C_METAL); the set of bridge phases is per oracle (``self.bridges``);
* sei_ionic: it carries ions: an interphase top whose contiguous interphase stack lies on
  METAL is class C_SEI (gain[C_SEI]) while stripping. A bridge film strips like C_SOFT
  (the metal site becomes INTERPHASE, the top site a gap). A film that is no bridge is
  *attached*, the electrolyte's face (film_attached): stripping through it leaves a void
  under it (the stack stays); plating goes under it (class C_SEI on METAL, C_NUC on the
  bare collector; the site above the top becomes INTERPHASE and the stack's bottom voxel
  METAL: the film rides up by one); when the separator lifts off a column topped by it,
  it rises with the separator (the gap opens under it: lift_column); a void under a film
  stack that is its column's top closes by the stack and the separator coming down
  together (creep move 'film-settle', see creep_moves). So no metal gets above it. Being
  the face, it is treated as the electrolyte by the metal under it: a metal-film contact
  is no bond (hop_targets) and counts for adhesion, and that metal is interface metal,
  which creep does not move sideways (face_height);
* growth (a channel of its own, per-column rates in the tree ``tse``): a column whose top
  is METAL reacts at sei_k; one whose top is an interphase stack of n voxels that passes
  electrons (sei_electronic: a bridge, or a mixed film's leak) and lies on METAL reacts at
  sei_k (sei_linear) or sei_k / (1 + n) (parabolic);
  the reacting METAL voxel becomes INTERPHASE (metal consumed: the inventory counts
  interphase voxels made, n_sei).
* sei_thin (optional): the interphase is thinner than a voxel and not resolved: the
  reacting top METAL voxel becomes EMPTY (a gap under the separator, as after a strip) and
  counts in n_consumed.

The interphase channel comes after the soft creep channel and before the thermal one.

Optional hop rule (params metropolis_T > 0 with metropolis_table, see
kmc.rates.metropolis_params): the Metropolis lattice gas instead of bond counting. A mobile
voxel at s hops into each EMPTY neighbour e at k_bond[2 dim - 1] (k_soft[...] for a soft
voxel) times table[dE + 6], dE = (ne(e) + 1) - ne(s), ne(x) the number of EMPTY neighbours of
x (counted with s occupied; s is empty after the move). The per-target rate is the product
of the two doubles. By thinning: hops are trials of their own, not thermal leaves (those
keep the adatom part alone). Every (mobile voxel, direction) pair is bounded by the
voxel's prefactor: the trials' rate r_ml = ndir x (n0 x pref_metal + n1 x pref_soft), ndir =
2 dim, n0 the METAL and DEAD voxels, n1 the SOFT ones. r_th = r_tt + r_ml (r_tt the thermal
tree's total); the channel draw x takes a trial when x >= r_ec + r_cr + r_cs + r_se + r_tt
(or r_tt is 0). A trial draws only where it has a choice. The set: with both sets
non-empty, u1: y = u1 x (w0 + w1), w_j = n_j x pref_j, set 1 if y >= w0 (then y -= w0);
else the non-empty set. The voxel: if 4 n_j >= nsite (a dense set), v = u x nsite for fresh
draws u until s = min(int(v), nsite - 1) is in the set, and y2 = (v - s) x ndir; else the
k-th of the set in site order, k = int(y / pref_j) (clamped; y = u x n_j x pref_j drawn now
if u1 was not), and y2 = u2 x ndir. Then the direction slot
d = int(y2) (clamped) among the lattice's directions in neighbour order (no y in 2D); the hop
into that neighbour e happens if e is EMPTY and (y2 - d) x pref_j < its rate; otherwise
nothing changes (a thinned trial: the clock has advanced, no event is counted, the loop goes
on).
"""
import math

import numpy as np

# Phase codes (uint8 site state); the tests check they equal kmc.phases.
EMPTY, METAL, DEAD, COLLECTOR, ELECTROLYTE, SEED, SOFT, INTERPHASE = range(8)
NPHASE = 8
MOBILE = (METAL, DEAD, SOFT)                               # hops, creeps sideways
SOLID = (METAL, DEAD, COLLECTOR, SEED, SOFT, INTERPHASE)   # counts as a bond for hops
DROPS = (METAL, DEAD, SEED, SOFT, INTERPHASE)              # falls into a void right below
BRIDGES = (SEED, SOFT)   # conduct electrons, have no live/dead state (+ INTERPHASE when
                         # the interphase carries the cell's electrons: Oracle.bridges)

# Half-cycle modes.
REST, PLATE, STRIP = 0, 1, 2
MODES = {"rest": REST, "plate": PLATE, "strip": STRIP}

# Electrochemical classes of a column (what its top site can do in the current mode).
C_NONE, C_METAL, C_NUC, C_REL1, C_REL2, C_SOFT, C_SEI = range(7)
NCLASS = 7
CLASSES = {"none": C_NONE, "metal": C_METAL, "nucleation": C_NUC, "release1": C_REL1,
           "release2": C_REL2, "soft": C_SOFT, "interphase": C_SEI}

# Seed load byte.
LOAD_MASK, CAP_SHIFT, CAP_MASK, RIDE_BIT = 15, 4, 7, 128

# Creep count byte of a site: moves at the matrix metal's rate (bits 0-3), at the soft
# phase's rate (bits 4-7).
SOFT_SHIFT, COUNT_MASK = 4, 15

# Reasons why advance() returns (same codes as the engine).
(STOP_EVENTS, STOP_TIME, STOP_CHARGE, STOP_VOLTAGE, STOP_NO_EVENTS, STOP_OVERFLOW,
 STOP_ECHEM) = range(7)
THINNED = "thinned"     # step_event after a thinned Metropolis trial (no event)


def seed_byte(load, cap, ride=False):
    """A seed load byte."""
    return (load & LOAD_MASK) | ((cap & CAP_MASK) << CAP_SHIFT) | (RIDE_BIT if ride else 0)


# ---------------------------------------------------------------------- sum trees

class Tree:
    """Eight-way sum tree as in ext/sumtree.pxd: levels[0] are the leaves, node j of level l
    sums nodes 8j .. 8j+7 of level l-1 (missing ones are 0.0) as
    ((c0+c1)+(c2+c3))+((c4+c5)+(c6+c7)); the last level is the single root."""

    def __init__(self, leaves):
        level = [float(v) for v in leaves]
        self.levels = [level]
        while len(level) > 1 or len(self.levels) == 1:
            padded = level + [0.0] * (-len(level) % 8)
            level = [((c[0] + c[1]) + (c[2] + c[3])) + ((c[4] + c[5]) + (c[6] + c[7]))
                     for c in (padded[k:k + 8] for k in range(0, len(padded), 8))]
            self.levels.append(level)

    @property
    def total(self):
        return self.levels[-1][0]

    def leaf(self, i):
        return self.levels[0][i]

    def find(self, target):
        """Leaf whose interval holds target: children scanned in order, zero ones skipped;
        if rounding leaves none, the last non-zero child."""
        j = 0
        for level in reversed(self.levels[:-1]):
            children = level[8 * j:8 * j + 8]
            pick, last = None, 0
            for k, c in enumerate(children):
                if c > 0.0:
                    last = k
                    if target < c:
                        pick = k
                        break
                    target -= c
            j = 8 * j + (last if pick is None else pick)
        return j


# ---------------------------------------------------------------------- the oracle

class Oracle:
    """Same constructor arguments as ``kmc._engine.Engine``; ``bitgen`` must be a separate
    numpy PCG64 in the same state as the engine's (e.g. built from the same SeedSequence)."""

    def __init__(self, nx, ny, nz, zc, step, params, bitgen, periodic_z=False,
                 track_connectivity=True, span=1):
        self.nx, self.ny, self.nz = nx, ny, nz
        self.ncol = nx * ny
        self.nsite = self.ncol * nz
        self.zc = zc
        self.step = max(1, step)
        # window half-width, clamped so that a window never wraps onto itself
        self.span = max(1, min(span, (nx - 1) // 2, (ny - 1) // 2 if ny > 1 else nx))
        self.periodic_z = periodic_z
        self.track_connectivity = track_connectivity
        self.bitgen = bitgen
        self.gen = np.random.Generator(bitgen)   # .random() is the bit generator's next_double
        self.set_params(params)
        self.nb = [self._neighbours(s) for s in range(self.nsite)]
        self.win = [self._window(c) for c in range(self.ncol)]
        self.st = [ELECTROLYTE] * self.nsite      # plain lists: the oracle's lattice
        self.ld = [0] * self.nsite                # seed load bytes
        self.lf = [1.0] * self.ncol               # local current factors
        self.hh = [nz] * self.ncol
        self.floor = [0] * self.ncol
        self.base = [zc] * self.ncol              # collector surface (thin-film creep)
        self.mode = REST
        self.t = 0.0
        self.n_events = self.n_plated = self.n_stripped = 0
        self.n_thermal = self.n_creep = self.n_echem = self.n_sei = self.n_null = 0
        self.n_consumed = 0         # metal consumed by a thin interphase
        self.last_event = None    # kind of the last executed event (for test coverage)
        self.last_class = None    # echem class of the last echem event
        self.recompute()

    def set_params(self, p):
        self.k_bond = [float(v) for v in p["k_bond"]]
        self.k_soft = [float(v) for v in p["k_soft"]]
        self.k_adatom = p["k_adatom"]
        self.adh = [float(v) for v in p.get("adhesion", [1.0] * 7)]
        self.adh_soft = [float(v) for v in p.get("adhesion_soft", [1.0] * 7)]
        self.metropolis = (p.get("metropolis_T", 0.0) or 0.0) > 0.0
        if self.metropolis:
            bulk = 2 * (2 if self.ny == 1 else 3) - 1
            table = [float(v) for v in p["metropolis_table"]]
            assert len(table) == 13
            # per-target hop rate by dE + 6, metal and soft: prefactor x factor
            self.metro_rates = {False: [self.k_bond[bulk] * f for f in table],
                                True: [self.k_soft[bulk] * f for f in table]}
            self.metro_pref = {False: self.k_bond[bulk], True: self.k_soft[bulk]}
        self.crit_size = p["crit_size"]
        self.pressure = p["pressure"]
        self.sigma_y = p["sigma_y"]
        self.creep_n = p["creep_n"]
        self.eps_y = p["eps_y"]
        self.ell_over_a = p["ell_over_a"]
        self.creep_cap = p["creep_cap"]
        self.soft_stress = p.get("soft_stress", 0.0)
        self.creep_on = False         # decided by recompute() from the lattice
        ft = p.get("film_factor")
        self.film_table = [1.0 if ft is None else ft[min(i, len(ft) - 1)]
                           for i in range(self.nz + 1)]
        self.soft_sigma_y = p["soft_sigma_y"]
        self.soft_creep_n = p["soft_creep_n"]
        self.soft_eps_y = p["soft_eps_y"]
        self.echem_rate = p["echem_rate"]
        self.j_over_j0 = p["j_over_j0"]
        self.alpha = p["alpha"]
        self.f_rt = p["f_rt"]
        self.k_seed = p["k_seed"]
        self.k_ride = [p.get("k_ride", 0.0) * math.exp(-m * p.get("ride_bond", 0.0))
                       for m in range(5)]
        self.onset = [float(v) for v in p["onset"]]
        self.gain = [float(v) for v in p["gain"]]
        assert len(self.onset) == NCLASS and len(self.gain) == NCLASS
        self.v_ohm, self.v_con = p["v_ohm"], p["v_con"]
        self.sei_k = p["sei_k"]
        self.sei_linear = bool(p["sei_linear"])
        self.sei_electronic = bool(p["sei_electronic"])
        self.sei_ionic = bool(p["sei_ionic"])
        self.sei_thin = bool(p.get("sei_thin", False))
        # the bridge phases (IS_BRIDGE, and IS_LIVE_CONDUCTOR less METAL and COLLECTOR)
        self.bridges = BRIDGES + ((INTERPHASE,) if p["sei_bridge"] else ())
        # phases whose stack under a column top decides the top's class
        self.stacked = self.bridges + ((INTERPHASE,) if self.sei_ionic
                                       and INTERPHASE not in self.bridges else ())
        # an ion-conducting film that is no bridge is the electrolyte's face (film_settles)
        self.film_attached = self.sei_ionic and INTERPHASE not in self.bridges
        self.film_lifts = 0         # lifts that carried an attached film up (for the tests)
        self.seed_lifts = 0         # lifts that carried a riding seed up (for the tests)

    # ------------------------------------------------------------------ views
    @property
    def state(self):
        return np.array(self.st, dtype=np.uint8)

    @property
    def load(self):
        return np.array(self.ld, dtype=np.uint8)

    @property
    def h(self):
        return np.array(self.hh, dtype=np.intc)

    @property
    def n_interphase(self):
        """Interphase voxels in the lattice."""
        return self.st.count(INTERPHASE)

    @property
    def n_in_seed(self):
        """Metal units absorbed in seeds."""
        return sum(self.ld[s] & LOAD_MASK for s in range(self.nsite) if self.st[s] == SEED)

    def col(self, s):
        return s % self.ncol

    def z(self, s):
        return s // self.ncol

    def _neighbours(self, s):
        """The six neighbours of s in the order -x, +x, -y, +y, -z, +z; -1 where there is
        none (no y neighbours in 2D, no z wrap unless periodic_z)."""
        nx, ny, nz, ncol = self.nx, self.ny, self.nz, self.ncol
        z, col = divmod(s, ncol)
        y, x = divmod(col, nx)

        def site(xx, yy, zz):
            return zz * ncol + yy * nx + xx

        out = [site((x - 1) % nx, y, z), site((x + 1) % nx, y, z)]
        if ny > 1:
            out += [site(x, (y - 1) % ny, z), site(x, (y + 1) % ny, z)]
        else:
            out += [-1, -1]
        if z > 0:
            out.append(site(x, y, z - 1))
        else:
            out.append(site(x, y, nz - 1) if self.periodic_z else -1)
        if z < nz - 1:
            out.append(site(x, y, z + 1))
        else:
            out.append(site(x, y, 0) if self.periodic_z else -1)
        return tuple(out)

    def _window(self, c):
        """Columns within Chebyshev distance span of column c (c excluded), periodic."""
        y, x = divmod(c, self.nx)
        by = self.span if self.ny > 1 else 0
        out = []
        for dy in range(-by, by + 1):
            for dx in range(-self.span, self.span + 1):
                if (dx, dy) != (0, 0):
                    out.append(((y + dy) % self.ny) * self.nx + (x + dx) % self.nx)
        return out

    def window_max(self, c):
        """Highest separator among the window columns of c (0 if none)."""
        return max([0] + [self.hh[w] for w in self.win[c]])

    def lateral(self, s):
        """The existing in-layer neighbours of s (-x, +x, -y, +y order)."""
        return [n for n in self.nb[s][:4] if n >= 0]

    def top_site(self, c):
        return (self.hh[c] - 1) * self.ncol + c

    def top_phase(self, c):
        """Phase just under the separator in column c (what the electrolyte touches)."""
        hc = self.hh[c]
        if hc <= 0 or hc > self.nz:
            return ELECTROLYTE
        return self.st[(hc - 1) * self.ncol + c]

    # ------------------------------------------------------------------ seeds
    def load_of(self, s):
        return self.ld[s] & LOAD_MASK

    def cap_of(self, s):
        return (self.ld[s] >> CAP_SHIFT) & CAP_MASK

    def rides(self, s):
        """s holds a riding seed (it moves with the electrolyte's face)."""
        return self.st[s] == SEED and bool(self.ld[s] & RIDE_BIT)

    def bridge_stack(self, s):
        """The contiguous bridges (seeds, soft voxels and a conducting interphase, mixed)
        from s down its column (empty if s is not a bridge)."""
        out = []
        while s >= 0 and self.st[s] in self.bridges:
            out.append(s)
            s = self.nb[s][4]
        return out

    def bridge_live(self, s):
        """A bridge is live when it or a bridge of the contiguous stack below it has a METAL
        or COLLECTOR face neighbour."""
        return any(n >= 0 and self.st[n] in (METAL, COLLECTOR)
                   for v in self.bridge_stack(s) for n in self.nb[v])

    def under_film_stack(self, s):
        """The site right under the contiguous stack of s's phase (a soft or interphase
        film) that ends at s (the walk stops at z = 0)."""
        p = self.st[s]
        while s >= self.ncol and self.st[s] == p:
            s -= self.ncol
        return s

    def loaded_seed(self, s):
        """The first seed holding metal in the contiguous stack from s down (None if none;
        the stack ends at z = 0 even when periodic in z)."""
        while s >= 0 and self.st[s] == SEED:
            if self.load_of(s):
                return s
            s = s - self.ncol if s >= self.ncol else -1
        return None

    # ------------------------------------------------------------------ connectivity
    def relabel(self):
        """Flood fill from every COLLECTOR site over metal and bridges: metal reached is
        METAL, the rest DEAD (seeds and soft voxels conduct and keep their phase)."""
        st = self.st
        for s in range(self.nsite):
            if st[s] == METAL:
                st[s] = DEAD
        stack = [s for s in range(self.nsite) if st[s] == COLLECTOR]
        seen = [False] * self.nsite
        for s in stack:
            seen[s] = True
        while stack:
            v = stack.pop()
            for w in self.nb[v]:
                if w < 0 or seen[w]:
                    continue
                if st[w] == DEAD:
                    st[w] = METAL
                elif st[w] not in self.bridges:
                    continue
                seen[w] = True
                stack.append(w)

    def live_only_through(self, phase):
        """Number of METAL sites whose every path to the collector passes through sites of
        `phase` (a bridge phase): a flood fill from the collector over METAL and the other
        bridges does not reach them. For test coverage of the connectivity through bridges."""
        others = tuple(p for p in self.bridges if p != phase)
        stack = [s for s in range(self.nsite) if self.st[s] == COLLECTOR]
        seen = [False] * self.nsite
        for s in stack:
            seen[s] = True
        while stack:
            v = stack.pop()
            for w in self.nb[v]:
                if w >= 0 and not seen[w] and (self.st[w] == METAL or self.st[w] in others):
                    seen[w] = True
                    stack.append(w)
        return sum(1 for s in range(self.nsite) if self.st[s] == METAL and not seen[s])

    # ------------------------------------------------------------------ rules: thermal
    def hop_targets(self, s):
        """(EMPTY neighbours in neighbour order, number of bonds) of site s: its solid
        neighbours, less (when the lattice holds a soft phase and s can hop) those of the
        other metal: Li and Na do not mix, a metal-soft contact binds neither; less an
        attached film (the electrolyte's face binds no more than the electrolyte)."""
        empty, n_solid, unlike = [], 0, 0
        other = (METAL, DEAD) if self.st[s] == SOFT else (SOFT,)
        for n in self.nb[s]:
            if n < 0:
                continue
            if self.st[n] == EMPTY:
                empty.append(n)
            elif self.st[n] in SOLID:
                n_solid += 1
                unlike += self.st[n] in other
                # an attached film is the electrolyte's face: no bond, like the electrolyte
                n_solid -= self.st[n] == INTERPHASE and self.film_attached
        if self.has_soft and empty:
            n_solid -= unlike
        return empty, n_solid

    def adatom_targets(self, s):
        """Columns a mobile adatom at s can hop to, in neighbour order. An adatom is METAL in
        the first layer above the collector, under the separator (h = zc + 1), with fewer
        than crit_size mobile in-layer neighbours. Its column drops to zc after the move, so
        no column of its window may be higher than zc + step; targets are the in-layer
        neighbours' columns whose separator sits on the collector (h = zc)."""
        c = self.col(s)
        if (self.k_adatom <= 0.0 or self.z(s) != self.zc or self.st[s] != METAL
                or self.hh[c] != self.zc + 1):
            return []
        lat = self.lateral(s)
        if sum(1 for n in lat if self.st[n] in MOBILE) >= self.crit_size:
            return []
        if self.window_max(c) > self.zc + self.step:
            return []
        return [self.col(n) for n in lat if self.hh[self.col(n)] == self.zc]

    def ride_partners(self, s):
        """(partners, m): a riding seed on top of its column over METAL swaps with its
        in-layer METAL neighbours that are the tops of their own columns (in neighbour
        order); m counts its in-layer SEED neighbours. ([], 0) for any other seed."""
        z = s // self.ncol
        if not self.rides(s) or z != self.hh[self.col(s)] - 1:
            return [], 0
        below = self.nb[s][4]
        if below < 0 or self.st[below] != METAL:
            return [], 0
        lat = [n for n in self.nb[s][:4] if n >= 0]
        return ([n for n in lat if self.st[n] == METAL and self.hh[self.col(n)] == z + 1],
                sum(1 for n in lat if self.st[n] == SEED))

    def ride_rate(self, s):
        """A riding seed's moves along the face: k_ride[m] per partner."""
        partners, m = self.ride_partners(s)
        return len(partners) * self.k_ride[m]

    def seed_partners(self, s):
        """METAL neighbours (in neighbour order) a seed at s can exchange places with."""
        return [n for n in self.nb[s] if n >= 0 and self.st[n] == METAL]

    def swap_rate(self, s):
        """Solid-solution exchanges of a seed: k_seed per METAL neighbour."""
        return len(self.seed_partners(s)) * self.k_seed if self.k_seed > 0.0 else 0.0

    def hop_table(self, s):
        """Hop rates per EMPTY neighbour by solid-neighbour count: the soft phase's own
        (k_soft) for a SOFT voxel, else the metal's (k_bond)."""
        return self.k_soft if self.st[s] == SOFT else self.k_bond

    def n_empty(self, x):
        """EMPTY neighbours of site x (a neighbour listed twice counts twice, as in the
        engine's cached counts)."""
        return sum(1 for n in self.nb[x] if n >= 0 and self.st[n] == EMPTY)

    def metropolis_targets(self, s):
        """Metropolis rule: [(EMPTY neighbour e, its hop rate)] of the mobile voxel at s, in
        neighbour order; rate = prefactor x min(1, exp(-2 dE / T)), dE = (ne(e) + 1) - ne(s)."""
        rates = self.metro_rates[self.st[s] == SOFT]
        ne_s = self.n_empty(s)
        return [(e, rates[self.n_empty(e) + 1 - ne_s + 6])
                for e in self.nb[s] if e >= 0 and self.st[e] == EMPTY]

    def thermal_rate(self, s):
        """Mobile metal or soft voxel: hop_table[#solid nbrs] per EMPTY neighbour (Metropolis
        rule: the sum of the targets' rates, in neighbour order) + k_adatom per adatom move
        (metal only); a seed: k_seed per METAL neighbour, plus its moves along the face
        when it rides (ride_rate)."""
        if self.st[s] == SEED:
            r = self.swap_rate(s)
            return r + self.ride_rate(s) if self.k_ride[0] > 0.0 else r
        if self.st[s] not in MOBILE:
            return 0.0
        if self.metropolis:
            return len(self.adatom_targets(s)) * self.k_adatom     # hops: trials of their own
        empty, n_solid = self.hop_targets(s)
        r = len(empty) * self.hop_table(s)[n_solid]
        if empty:
            # adhesion: exp(-m E_adh / kT) for m ELECTROLYTE neighbours (1 when off)
            m = sum(1 for v in self.nb[s] if v >= 0 and (self.st[v] == ELECTROLYTE or (
                self.st[v] == INTERPHASE and self.film_attached)))
            r = r * (self.adh_soft if self.st[s] == SOFT else self.adh)[m]
        return r + len(self.adatom_targets(s)) * self.k_adatom

    # ------------------------------------------------------------------ rules: creep
    def settle_allowed(self, c):
        """Can the separator of column c come down one voxel within its window's bound,
        without taking its face (an attached film's bottom, face_height) below its floor (a
        rigid collector's relief)?"""
        return (self.face_height(c) > self.floor[c]
                and self.window_max(c) <= self.hh[c] - 1 + self.step)

    def creep_moves(self, e):
        """The creep moves into EMPTY site e as (kind, src, soft), in the order the
        sub-choice counts them; soft: whether the move goes at the soft phase's rate.
        ('vertical', src) a voxel right above (metal, dead, seed, soft or interphase: the
        separator carries seeds and the interphase film down) drops in (soft when it is
        SOFT; an attached film whose stack is the column's top, or a riding seed on top,
        instead comes down with the separator: ('film-settle', src), only when the
        separator may settle); ('settle', e) e
        is its column's top site and the separator comes down (soft
        when the site under e is SOFT); ('lateral', src) for each in-layer neighbour holding
        mobile metal that is not the top site of its own column, or holding a SOFT voxel
        (soft, and also from the top site of its column, where the separator presses it)."""
        if not self.creep_on or self.st[e] != EMPTY:
            return []
        moves = []
        z, c = self.z(e), self.col(e)
        up, down = self.nb[e][5], self.nb[e][4]
        if up >= 0 and self.film_settles(up):
            if self.settle_allowed(c):
                moves.append(("film-settle", up, False))
        elif up >= 0 and self.st[up] in DROPS:
            moves.append(("vertical", up, self.st[up] == SOFT))
        if z == self.hh[c] - 1 and self.settle_allowed(c):
            moves.append(("settle", e, down >= 0 and self.st[down] == SOFT))
        for n in self.lateral(e):
            if self.st[n] == SOFT:
                if z <= self.face_height(self.col(n)) - 1:
                    moves.append(("lateral", n, True))
            elif self.st[n] in MOBILE and z < self.face_height(self.col(n)) - 1:
                moves.append(("lateral", n, False))
        return moves

    def face_height(self, c):
        """Where the electrolyte's face starts over column c (voxels): the separator's
        height, or the bottom of an attached film stack at the column's top (the film is
        the face: the metal under it is interface metal, pressed, not moved sideways)."""
        z = self.hh[c]
        if z >= 1 and self.rides(self.top_site(c)):
            return z - 1                # a riding seed is the face (one voxel)
        if not self.film_attached:
            return z
        while z >= 1 and self.st[(z - 1) * self.ncol + c] == INTERPHASE:
            z -= 1
        return z

    def film_settles(self, s):
        """s is an attached film voxel whose stack is its column's top: a void right under
        it closes by the film coming down with the separator, when the separator may settle
        (not by the film voxel dropping in). So does a riding seed on top."""
        top = self.top_site(self.col(s))
        if self.rides(s):
            return s == top
        if not self.film_attached or self.st[s] != INTERPHASE:
            return False
        while s < top and self.st[s + self.ncol] == INTERPHASE:
            s += self.ncol
        return s == top

    def creep_byte(self, e):
        """The engine's creep count byte of site e: matrix-rate moves + soft-rate moves
        << SOFT_SHIFT."""
        moves = self.creep_moves(e)
        n_soft = sum(1 for m in moves if m[2])
        return (len(moves) - n_soft) + (n_soft << SOFT_SHIFT)

    def creep_rate(self, soft=False):
        """Rate (1/s) of each creep move of the matrix metal (soft False) or of the soft
        phase (soft True), capped at creep_cap. The contact pressure is sigma = P / f,
        f = loaded column share (columns whose top site is solid); with n_soft > 0 soft tops
        and sigma above the soft yield strength, while hard tops remain, the soft contacts
        hold soft_sigma_y and the hard ones carry (P - soft_sigma_y n_soft / ncol) ncol /
        (loaded - n_soft); the soft phase feels at least soft_stress (MPa). Each phase has its own
        law eps_y (sigma / sigma_y)^n ell / a."""
        loaded = self.ncol - self.top_count[EMPTY] - self.top_count[ELECTROLYTE]
        n_soft = self.top_count[SOFT]
        if not self.creep_on:
            return 0.0
        f = float(loaded if loaded > 0 else 1) / self.ncol
        sigma = self.pressure / f
        if n_soft > 0 and sigma > self.soft_sigma_y and loaded > n_soft:
            if soft:
                sigma = self.soft_sigma_y
            else:
                sigma = ((self.pressure - self.soft_sigma_y * n_soft / self.ncol)
                         * self.ncol / (loaded - n_soft))
        if soft:
            sigma = max(sigma, self.soft_stress)
            k = (self.soft_eps_y * math.pow(sigma / self.soft_sigma_y, self.soft_creep_n)
                 * self.ell_over_a)
        else:
            k = self.eps_y * math.pow(sigma / self.sigma_y, self.creep_n) * self.ell_over_a
        return k if k < self.creep_cap else self.creep_cap

    def contact_regime(self):
        """Which branch of creep_rate holds now (for test coverage): None without creep or
        without soft tops; 'shared' (soft contacts at their yield strength, hard ones carry
        the rest), 'soft only' (every loaded top is soft: both laws read P / f) or 'below
        soft yield' (P / f does not exceed the soft yield strength)."""
        loaded = self.ncol - self.top_count[EMPTY] - self.top_count[ELECTROLYTE]
        n_soft = self.top_count[SOFT]
        if not self.creep_on or n_soft == 0:
            return None
        f = float(loaded if loaded > 0 else 1) / self.ncol
        if not self.pressure / f > self.soft_sigma_y:
            return "below soft yield"
        return "shared" if loaded > n_soft else "soft only"

    # ------------------------------------------------------------------ rules: echem
    def echem_class(self, c):
        """Plating: onto METAL or a live bridge, seed, soft or conducting interphase
        (C_METAL), onto the bare collector (C_NUC), under an attached film onto METAL
        (C_SEI) or the bare collector (C_NUC). Stripping: a METAL top, or a live seed on
        top of METAL (C_METAL); a SOFT top whose soft stack lies on METAL (C_SOFT, with no
        liveness test), likewise an INTERPHASE top when the interphase carries ions (C_SEI);
        else the first loaded seed of a live seed stack releases (C_REL1 above half full,
        else C_REL2)."""
        hc = self.hh[c]
        if self.mode == REST or hc <= 0 or hc > self.nz:
            return C_NONE
        s = self.top_site(c)
        p = self.st[s]
        if p == METAL:
            return C_METAL
        if self.mode == PLATE:
            if p == COLLECTOR:
                return C_NUC
            if p in self.bridges and self.bridge_live(s):
                return C_METAL
            if p == INTERPHASE and self.film_attached:
                under = self.st[self.under_film_stack(s)]
                return {METAL: C_SEI, COLLECTOR: C_NUC}.get(under, C_NONE)
            return C_NONE
        if p == SOFT or (p == INTERPHASE and self.sei_ionic):
            if self.st[self.under_film_stack(s)] != METAL:
                return C_NONE
            return C_SOFT if p == SOFT else C_SEI
        if p != SEED or not self.bridge_live(s):
            return C_NONE
        if hc >= 2 and self.st[s - self.ncol] == METAL:
            return C_METAL
        v = self.loaded_seed(s)
        if v is None:
            return C_NONE
        return C_REL1 if 2 * self.load_of(v) > self.cap_of(v) else C_REL2

    def sei_stack(self, c):
        """(reacting site, n): the site that would turn into interphase in column c, under
        the n voxels of an interphase stack at its top that passes electrons (n = 0: the top
        site)."""
        s, n = self.top_site(c), 0
        if self.st[s] == INTERPHASE and self.sei_electronic:
            while s >= self.ncol and self.st[s] == INTERPHASE:
                s -= self.ncol
                n += 1
        return s, n

    def sei_rate(self, c):
        """Interphase growth rate of column c (1/s): 0 without growth or with the separator
        out of the box; else the reacting site (see sei_stack) must be METAL: sei_k (linear)
        or sei_k / (1 + n) (parabolic)."""
        hc = self.hh[c]
        if self.sei_k <= 0.0 or hc <= 0 or hc > self.nz:
            return 0.0
        s, n = self.sei_stack(c)
        if self.st[s] != METAL:
            return 0.0
        return self.sei_k if self.sei_linear else self.sei_k / (1.0 + n)

    def bv(self, x):
        """Butler-Volmer current (units of j0) at x past a class's onset (0 below it)."""
        if x <= 0.0:
            return 0.0
        return math.exp(self.alpha * self.f_rt * x) - math.exp(-(1.0 - self.alpha) * self.f_rt * x)

    def bv_slope(self, x):
        if x <= 0.0:
            return 0.0
        return self.f_rt * (self.alpha * math.exp(self.alpha * self.f_rt * x)
                            + (1.0 - self.alpha) * math.exp(-(1.0 - self.alpha) * self.f_rt * x))

    def class_current(self, W, eta):
        s = 0.0
        for k in range(1, NCLASS):
            if W[k] > 0.0:
                s += W[k] * self.bv(eta - self.onset[k])
        return s

    def eta_solve(self):
        """Electrode overpotential eta at which sum_k W_k bv(eta - onset_k) = (j/j0) ncol,
        W_k = class_weight(k) (inf when no class has weight): closed form for one populated
        class at alpha = 0.5; otherwise bracket from the lowest active onset up in doubling
        steps of 0.05 V, then Newton steps, bisecting whenever Newton leaves the bracket; same
        operations as the engine."""
        W = [0.0] + [self.class_weight(k) for k in range(1, NCLASS)]
        target = self.j_over_j0 * self.ncol
        lo = math.inf
        for k in range(1, NCLASS):
            if W[k] > 0.0 and self.onset[k] < lo:
                lo = self.onset[k]
        if lo == math.inf:
            return math.inf
        if self.alpha == 0.5:
            live = [k for k in range(1, NCLASS) if W[k] > 0.0]
            if len(live) == 1:
                return lo + 2.0 / self.f_rt * math.asinh(target / (2.0 * W[live[0]]))
        step = 0.05
        hi = lo + step
        while self.class_current(W, hi) < target:
            lo = hi
            step *= 2.0
            hi = lo + step
        eta = 0.5 * (lo + hi)
        for _ in range(200):
            f = self.class_current(W, eta) - target
            if abs(f) < 1e-12 * target:
                break
            if f > 0.0:
                hi = eta
            else:
                lo = eta
            if hi - lo < 1e-12:
                break
            df = 0.0
            for k in range(1, NCLASS):
                df += W[k] * self.bv_slope(eta - self.onset[k])
            if df > 0.0:
                eta = eta - f / df
            if df <= 0.0 or eta <= lo or eta >= hi:
                eta = 0.5 * (lo + hi)
        return eta

    def class_weight(self, k):
        """Summed local factors of class k times its relative exchange current gain[k] (no
        multiplication when the gain is exactly 1, as in the engine)."""
        w = self.tcl[k].total
        return w if self.gain[k] == 1.0 else w * self.gain[k]

    def active_weight(self):
        """Summed local factors of all active classes (gains not applied): the echem channel
        is open when this is > 0."""
        w = 0.0
        for k in range(1, NCLASS):
            w += self.tcl[k].total
        return w

    def pick_class(self, u):
        """Class of an echem event: the only class with weight (u unused), or class k with
        probability W_k bv(eta - onset_k) / sum, W_k = class_weight(k) (scan in class order;
        the last class with weight when rounding runs past the end; C_METAL when no class
        has weight)."""
        w = [0.0] + [self.class_weight(k) for k in range(1, NCLASS)]
        active = [k for k in range(1, NCLASS) if w[k] > 0.0]
        if len(active) == 1:
            return active[0]
        last = active[-1] if active else C_METAL
        eta = self.eta
        tot = 0.0
        for k in range(1, NCLASS):
            if w[k] > 0.0:
                w[k] = w[k] * self.bv(eta - self.onset[k])
                tot += w[k]
        x = u * tot
        for k in range(1, NCLASS):
            if w[k] > 0.0:
                if x < w[k]:
                    return k
                x -= w[k]
                last = k
        return last

    def overpotential(self):
        """|V|: electrode overpotential eta, plus ohmic and constriction (1/f - 1) terms at
        the share f of columns in an active class; inf when no class has weight."""
        eta = self.eta
        if eta == math.inf:
            return math.inf
        f = float(sum(self.n_class[1:])) / self.ncol
        return eta + self.v_ohm + self.v_con * (1.0 / f - 1.0)

    def voltage(self):
        if self.mode == REST:
            return 0.0
        return -self.overpotential() if self.mode == PLATE else self.overpotential()

    # ------------------------------------------------------------------ full recomputation
    def recompute(self):
        """Connectivity, every leaf, the trees, the classes and the counts, from scratch."""
        if self.track_connectivity:
            self.relabel()
        st = self.st
        self.has_soft = SOFT in st        # conserved: equal to the engine's flag at rebuild
        # without stack pressure only soft domains under their internal stress creep
        self.creep_on = (self.eps_y > 0.0 and not self.periodic_z and (
            self.pressure > 0.0 or (self.soft_stress > 0.0 and self.has_soft)))
        # (rates are zero except on mobile / seed / EMPTY sites: skip the others quickly)
        self.thermal_leaves = [self.thermal_rate(s) if st[s] in (METAL, DEAD, SEED, SOFT)
                               else 0.0 for s in range(self.nsite)]
        self.creep_counts = [self.creep_byte(s) if self.creep_on and st[s] == EMPTY
                             else 0 for s in range(self.nsite)]
        column_counts = [0] * self.ncol          # matrix-rate moves per column
        soft_counts = [0] * self.ncol            # soft-rate moves per column
        for s, k in enumerate(self.creep_counts):
            if k:
                column_counts[s % self.ncol] += k & COUNT_MASK
                soft_counts[s % self.ncol] += k >> SOFT_SHIFT
        # (the engine sets its flag at rebuild only: no event removes a bridge, and the only
        # one that creates one, interphase growth, sets it in advance: so the flag from
        # scratch must stay equal to it)
        self.has_bridges = ((self.sei_k > 0.0 and INTERPHASE in self.stacked)
                            or any(p in self.stacked for p in st))
        self.cls = [self.echem_class(c) for c in range(self.ncol)]
        self.n_class = [self.cls.count(k) for k in range(NCLASS)]
        self.class_leaves = [[self.lf[c] if (self.cls[c] == k and k != C_NONE) else 0.0
                              for c in range(self.ncol)] for k in range(NCLASS)]
        self.top_count = [0] * NPHASE
        for c in range(self.ncol):
            self.top_count[self.top_phase(c)] += 1
        self.tth = Tree(self.thermal_leaves)
        # leaves: move counts x the column's thin-film factor (separator height above base)
        self.column_counts, self.soft_counts = column_counts, soft_counts
        film = [self.film_table[min(max(self.hh[c] - self.base[c], 0), self.nz)]
                for c in range(self.ncol)]
        self.tcr = Tree([column_counts[c] * film[c] for c in range(self.ncol)])
        self.tcs = Tree([soft_counts[c] * film[c] for c in range(self.ncol)])
        self.tcl = [Tree(leaves) for leaves in self.class_leaves]
        self.sei_leaves = [self.sei_rate(c) for c in range(self.ncol)]
        self.tse = Tree(self.sei_leaves)
        self.eta = self.eta_solve()     # a function of the class totals alone

    def rates_snapshot(self):
        """Same layout as Engine.rates_snapshot(): thermal leaves, creep count bytes per site,
        class tree leaves (NCLASS x ncol), top counts, class per column, columns per class."""
        return (np.array(self.thermal_leaves, dtype=np.float64),
                np.array(self.creep_counts, dtype=np.uint8),
                np.array(self.class_leaves, dtype=np.float64),
                list(self.top_count),
                np.array(self.cls, dtype=np.uint8),
                list(self.n_class))

    @property
    def totals(self):
        return (self.tth.total + self.trial_bound(), self.tcr.total, self.active_weight(),
                self.creep_rate())

    def class_weights(self):
        return [t.total for t in self.tcl]

    def class_counts(self):
        return list(self.n_class)

    def electrode_overpotential(self):
        return self.eta

    # ------------------------------------------------------------------ control
    def load_lattice(self, state, h, load=None, local_factors=None, floor=None, base=None):
        self.st = [int(v) for v in np.asarray(state, dtype=np.uint8).reshape(-1)]
        self.hh = [int(v) for v in np.asarray(h, dtype=np.intc).reshape(-1)]
        self.floor = ([0] * self.ncol if floor is None else
                      [int(v) for v in np.asarray(floor, dtype=np.intc).reshape(-1)])
        self.base = ([self.zc] * self.ncol if base is None else
                     [int(v) for v in np.asarray(base, dtype=np.intc).reshape(-1)])
        ld = (np.zeros(self.nsite, dtype=np.uint8) if load is None
              else np.asarray(load, dtype=np.uint8).reshape(-1))
        # only seeds carry a load byte
        self.ld = [int(v) if p == SEED else 0 for v, p in zip(ld, self.st)]
        self.lf = ([1.0] * self.ncol if local_factors is None else
                   [float(v) for v in np.asarray(local_factors, dtype=np.float64).reshape(-1)])
        self.recompute()

    def set_local_factors(self, factors):
        self.lf = [float(v) for v in np.asarray(factors, dtype=np.float64).reshape(-1)]
        self.recompute()

    def set_mode(self, mode):
        self.mode = MODES[mode]
        self.recompute()

    def charge_reached(self, target):
        if self.mode == PLATE:
            return self.n_plated >= target
        if self.mode == STRIP:
            return self.n_stripped >= target
        return False

    # ------------------------------------------------------------------ events
    def move_metal(self, src, dst):
        """The metal (or soft) voxel at src moves into EMPTY site dst (labels fixed by
        recompute)."""
        self.st[dst] = self.st[src]
        self.st[src] = EMPTY

    def move_seed(self, src, dst):
        """The seed at src, with its load byte, moves to dst."""
        self.st[dst] = SEED
        self.ld[dst] = self.ld[src]
        self.ld[src] = 0

    def do_plate(self, c):
        """One unit onto column c. A live seed on top absorbs it while below its capacity
        (no volume change). Otherwise a voxel is added and the separator over c lifts by one:
        under a full riding seed on top (the seed moves up), under an attached film (the
        film rides up), else on top (also on a soft voxel). The separator then lifts off
        every column that would be more than `step` below a column of its window
        (lift_column). Returns False when the voxel does not fit (overflow)."""
        hc = self.hh[c]
        top = self.top_site(c)
        if self.st[top] == SEED and self.load_of(top) < self.cap_of(top):
            self.ld[top] += 1
            self.n_plated += 1
            self.last_event = "alloy"
            return True
        if hc >= self.nz:
            return False
        if self.rides(top):
            self.move_seed(top, top + self.ncol)
            self.st[top] = METAL
            self.last_event = "plate-under-seed"
        elif self.st[top] == INTERPHASE and self.film_attached:
            self.st[hc * self.ncol + c] = INTERPHASE
            self.st[self.under_film_stack(top) + self.ncol] = METAL
            self.last_event = "plate-under-interphase"
        else:
            self.st[hc * self.ncol + c] = METAL
            self.last_event = {SEED: "plate-on-seed", SOFT: "plate-on-soft",
                               INTERPHASE: "plate-on-interphase"}.get(self.st[top], "plate")
        self.hh[c] = hc + 1
        self.n_plated += 1
        changed = True
        while changed:          # relax to the lowest heights that satisfy the slope bound
            changed = False
            for a in range(self.ncol):
                for b in self.win[a]:
                    need = self.hh[a] - self.step
                    if self.hh[b] < need:
                        self.lift_column(b, need)
                        changed = True
        return True

    def lift_column(self, c, new_h):
        """The separator over c rises to new_h, leaving EMPTY gaps; an attached film at the
        top rises with it (the gap opens under the film), and so does a riding seed."""
        hc, n = self.hh[c], 0
        top = self.top_site(c)
        if hc >= 1 and self.rides(top):
            for z in range(hc, new_h - 1):
                self.st[z * self.ncol + c] = EMPTY
            self.move_seed(top, (new_h - 1) * self.ncol + c)
            self.st[top] = EMPTY
            self.hh[c] = new_h
            self.seed_lifts += 1
            return
        if hc >= 1 and self.film_attached and self.st[top] == INTERPHASE:
            n = (top - self.under_film_stack(top)) // self.ncol
            self.film_lifts += 1
        for z in range(hc - n, new_h):
            self.st[z * self.ncol + c] = INTERPHASE if z >= new_h - n else EMPTY
        self.hh[c] = new_h

    def do_strip(self, c, k):
        """One unit off column c of class k: a release class takes one absorbed unit from
        the first loaded seed of the top seed stack; C_SOFT (C_SEI): the metal under the top
        soft (interphase) stack goes and the stack drops by one (that metal site becomes
        SOFT (INTERPHASE), the top site a gap); a riding seed on top of metal stays (a void
        opens under it, closed by the seed settling with the separator); another seed on top
        of metal drops into the metal's place (the top site becomes a gap); else the top voxel goes (a gap opens,
        the separator stays)."""
        s = self.top_site(c)
        self.n_stripped += 1
        if k in (C_REL1, C_REL2):
            v = self.loaded_seed(s)
            self.ld[v] -= 1
            self.last_event = "release1" if k == C_REL1 else "release2"
        elif k == C_SEI and self.film_attached:
            b = self.under_film_stack(s)
            assert self.st[b] == METAL and b < s
            self.st[b] = EMPTY
            self.last_event = "strip-under-interphase"
        elif k in (C_SOFT, C_SEI):
            film = self.st[s]
            assert film == (SOFT if k == C_SOFT else INTERPHASE)
            b = self.under_film_stack(s)
            assert self.st[b] == METAL and b < s
            self.st[b] = film
            self.st[s] = EMPTY
            self.last_event = "strip-under-soft" if k == C_SOFT else "strip-under-interphase"
        elif self.rides(s):
            assert self.st[s - self.ncol] == METAL
            self.st[s - self.ncol] = EMPTY      # a void under the riding seed (it settles)
            self.last_event = "strip-under-riding-seed"
        elif self.st[s] == SEED:
            self.move_seed(s, s - self.ncol)
            self.st[s] = EMPTY
            self.last_event = "strip-under-seed"
        else:
            self.st[s] = EMPTY
            self.last_event = "strip"

    def do_sei(self, c):
        """Interphase growth in column c: the reacting METAL site (the top, or the one under
        the conducting interphase stack at the top) becomes INTERPHASE (if the interphase
        does not conduct, the connectivity recomputation may kill metal cut off by it)."""
        s, n = self.sei_stack(c)
        assert self.st[s] == METAL
        self.n_sei += 1
        if self.sei_thin:
            self.st[s] = EMPTY
            self.n_consumed += 1
            self.last_event = "sei-thin"
            return
        self.st[s] = INTERPHASE
        self.last_event = "sei-under-interphase" if n > 0 else "sei"

    def do_thermal(self, s, u):
        """Sub-choice of a thermal event at s with the uniform u. A seed exchanges places
        with its pick = int(u * n)-th METAL neighbour (clamped). Metal or soft: one of the
        hops into an EMPTY neighbour (x = u * rate below the hop part, pick = int(x / k),
        k = hop_table(s)[#solid]; none under the Metropolis rule, whose hops are trials
        of their own) or else an adatom move (metal only; pick =
        int((x - r_hop) / k_adatom)), both clamped."""
        if self.st[s] == SEED:
            if self.k_ride[0] > 0.0:
                # a riding particle moves along the face (ride_partners) beyond the swaps
                k = self.swap_rate(s)
                partners, m = self.ride_partners(s)
                n = len(partners)
                r = n * self.k_ride[m]
                x = u * (k + r)
                if x >= k:
                    dst = partners[min(int((x - k) / r * n), n - 1)]
                    self.move_seed(s, dst)
                    self.st[s] = METAL
                    self.last_event = "seed-ride"
                    return
                u = x / k
            partners = self.seed_partners(s)
            n = len(partners)
            pick = min(int(u * n), n - 1)
            dst = partners[pick]
            self.move_seed(s, dst)
            self.st[s] = METAL
            self.last_event = "seed-swap"
            return
        empty, n_solid = self.hop_targets(s)
        if self.metropolis:
            empty = []          # hops are trials of their own (metropolis_trial)
        cols = self.adatom_targets(s)
        ne, na = len(empty), len(cols)
        k = 0.0 if self.metropolis else self.hop_table(s)[n_solid]
        r_hop = ne * k
        x = u * (r_hop + na * self.k_adatom)
        if ne > 0 and (x < r_hop or na == 0):
            pick = min(int(x / k), ne - 1)
            self.last_event = "soft-hop" if self.st[s] == SOFT else "hop"
            self.move_metal(s, empty[pick])
        else:
            pick = max(0, min(int((x - r_hop) / self.k_adatom), na - 1))
            # the adatom hops: its column's separator comes down onto the collector and the
            # target column's separator rises by one over the new adatom
            self.st[s] = ELECTROLYTE
            self.hh[self.col(s)] = self.zc
            self.st[self.zc * self.ncol + cols[pick]] = METAL
            self.hh[cols[pick]] = self.zc + 1
            self.last_event = "adatom"

    def metropolis_trial(self):
        """A Metropolis hop trial (module docstring; draws its own uniforms); returns False
        when it is thinned."""
        sets = self.mobile_sets()
        pref = [self.metro_pref[False], self.metro_pref[True]]
        w0, w1 = len(sets[0]) * pref[0], len(sets[1]) * pref[1]
        dirs = self.directions()
        y = None
        if sets[0] and sets[1]:
            y = self.gen.random() * (w0 + w1)
            j = 0
            if y >= w0:
                j, y = 1, y - w0
        else:
            j = 0 if sets[0] else 1
        if 4 * len(sets[j]) >= self.nsite:
            members = set(sets[j])
            while True:
                v = self.gen.random() * self.nsite
                s = min(int(v), self.nsite - 1)
                if s in members:
                    y2 = (v - s) * len(dirs)
                    break
        else:
            if y is None:
                y = self.gen.random() * (len(sets[j]) * pref[j])
            s = sets[j][min(int(y / pref[j]), len(sets[j]) - 1)]
            y2 = self.gen.random() * len(dirs)
        d = min(int(y2), len(dirs) - 1)
        e = self.nb[s][dirs[d]]
        if e < 0 or self.st[e] != EMPTY:
            return False
        rate = self.metro_rates[self.st[s] == SOFT][self.n_empty(e) + 1 - self.n_empty(s) + 6]
        if not (y2 - d) * pref[j] < rate:
            return False
        self.last_event = "soft-hop" if self.st[s] == SOFT else "hop"
        self.move_metal(s, e)
        return True

    def mobile_sets(self):
        """The Metropolis rule's sets in site order: METAL and DEAD voxels (the metal
        prefactor), SOFT voxels (the soft one)."""
        return ([s for s in range(self.nsite) if self.st[s] in (METAL, DEAD)],
                [s for s in range(self.nsite) if self.st[s] == SOFT])

    def directions(self):
        """Neighbour slots of the lattice's directions, in neighbour order (no y in 2D)."""
        return [d for d in range(6) if self.ny > 1 or d // 2 != 1]

    def trial_bound(self):
        """Total rate (1/s) of the Metropolis hop trials (0 under bond counting)."""
        if not self.metropolis:
            return 0.0
        n0, n1 = (len(v) for v in self.mobile_sets())
        return len(self.directions()) * (n0 * self.metro_pref[False]
                                         + n1 * self.metro_pref[True])

    def do_creep(self, c, u, soft=False):
        """Sub-choice of a creep event in column c among the moves at the matrix rate (soft
        False) or at the soft phase's rate (soft True): walk the EMPTY sites bottom-up, each
        holding its number of such moves, to target = u * (the column's number of such moves); then
        pick = int(remaining target) among that site's such moves, in creep_moves order
        (clamped)."""
        shift = SOFT_SHIFT if soft else 0
        target = u * (self.soft_counts if soft else self.column_counts)[c]
        chosen, last = -1, -1
        for z in range(self.nz):
            e = z * self.ncol + c
            k = (self.creep_counts[e] >> shift) & COUNT_MASK
            if k == 0:
                continue
            last = e
            if target < k:
                chosen = e
                break
            target -= k
        if chosen < 0:
            chosen = last
            target = ((self.creep_counts[chosen] >> shift) & COUNT_MASK) - 1
        moves = [m for m in self.creep_moves(chosen) if m[2] == soft]
        pick = min(int(target), len(moves) - 1)
        kind, src, _ = moves[pick]
        self.last_event = ("creep-soft-" if soft else "creep-") + kind
        if kind == "settle":
            self.st[chosen] = ELECTROLYTE
            self.hh[c] -= 1
        elif kind == "film-settle" and self.st[src] == SEED:
            self.move_seed(src, chosen)
            self.st[src] = ELECTROLYTE
            self.hh[c] -= 1
            self.last_event = "creep-seed-settle"
        elif kind == "film-settle":
            self.st[chosen] = INTERPHASE
            self.st[self.top_site(c)] = ELECTROLYTE
            self.hh[c] -= 1
        elif self.st[src] == SEED:
            self.move_seed(src, chosen)
            self.st[src] = EMPTY
            self.last_event = "creep-seed-drop"
        elif self.st[src] == INTERPHASE:
            self.st[chosen], self.st[src] = INTERPHASE, EMPTY
            self.last_event = "creep-film-drop"
        else:
            self.move_metal(src, chosen)

    def step_event(self, t_stop, echem_stop=-1):
        """One iteration of the engine's loop. Returns a stop reason, None after an event, or
        THINNED after a thinned Metropolis trial (the clock advanced, nothing else changed).

        Random draws, in this order: u for the waiting time dt = -log(1 - u) / r_tot (an
        event that would pass t_stop is not executed: the clock stops at t_stop); the
        channel (x = draw * r_tot: echem below r_ec, then matrix creep below r_ec + r_cr,
        then soft creep below r_ec + r_cr + r_cs, then interphase growth below
        r_ec + r_cr + r_cs + r_se, else thermal; a channel with a rate also takes the event
        when all the channels after it have none); for echem the class (always drawn) and
        the column in the class's tree; for creep and thermal the leaf of the channel's tree
        and the sub-choice; for interphase growth the column (target draw * r_se). The soft
        creep channel is only evaluated when the lattice holds bridges (has_bridges), the
        interphase channel only when sei_k > 0; r_tot = r_th + r_cr + r_cs + r_se + r_ec,
        added in that order. After an echem event that brings n_echem to
        echem_stop the event counts and the loop stops (reason STOP_ECHEM, before the charge
        and voltage checks)."""
        self.last_event = None
        self.last_class = None
        r_tt = self.tth.total
        r_ml = self.trial_bound()
        r_th = r_tt + r_ml
        r_cr = self.creep_rate(False) * self.tcr.total
        r_cs = self.creep_rate(True) * self.tcs.total if self.has_bridges else 0.0
        r_se = self.tse.total if self.sei_k > 0.0 else 0.0
        r_ec = self.echem_rate if (self.mode != REST and self.active_weight() > 0.0) else 0.0
        r_tot = r_th + r_cr + r_cs + r_se + r_ec
        if r_tot <= 0.0:
            return STOP_NO_EVENTS
        u = self.gen.random()
        dt = -math.log(1.0 - u) / r_tot
        if self.t + dt > t_stop:
            self.t = t_stop
            return STOP_TIME
        self.t += dt
        x = self.gen.random() * r_tot
        reason = None
        if r_ec > 0.0 and (x < r_ec or (r_cr == 0.0 and r_cs == 0.0 and r_se == 0.0
                                        and r_th == 0.0)):
            k = self.pick_class(self.gen.random())
            c = self.tcl[k].find(self.gen.random() * self.tcl[k].total)
            assert self.cls[c] == k
            self.last_class = k
            if self.mode == PLATE:
                if not self.do_plate(c):
                    self.recompute()
                    return STOP_OVERFLOW
            else:
                self.do_strip(c, k)
            self.n_echem += 1
            if self.n_echem == echem_stop:
                reason = STOP_ECHEM
        elif r_cr > 0.0 and (x < r_ec + r_cr or (r_cs == 0.0 and r_se == 0.0
                                                  and r_th == 0.0)):
            c = self.tcr.find(self.gen.random() * self.tcr.total)
            self.do_creep(c, self.gen.random(), False)
            self.n_creep += 1
        elif r_cs > 0.0 and (x < r_ec + r_cr + r_cs or (r_se == 0.0 and r_th == 0.0)):
            c = self.tcs.find(self.gen.random() * self.tcs.total)
            self.do_creep(c, self.gen.random(), True)
            self.n_creep += 1
        elif r_se > 0.0 and (x < r_ec + r_cr + r_cs + r_se or r_th == 0.0):
            c = self.tse.find(self.gen.random() * r_se)
            self.do_sei(c)
        elif r_ml > 0.0 and (x >= r_ec + r_cr + r_cs + r_se + r_tt or r_tt == 0.0):
            if not self.metropolis_trial():
                self.n_null += 1
                return THINNED
            self.n_thermal += 1
        else:
            s = self.tth.find(self.gen.random() * r_tt)
            self.do_thermal(s, self.gen.random())
            self.n_thermal += 1
        self.n_events += 1
        self.recompute()
        return reason

    def advance(self, max_events, t_stop, charge_target, v_cutoff, echem_stop=-1):
        """Same contract and stop checks as Engine.advance."""
        if self.mode != REST:
            if self.charge_reached(charge_target):
                return STOP_CHARGE
            if self.overpotential() > v_cutoff:
                return STOP_VOLTAGE
        done = 0
        while done < max_events:
            reason = self.step_event(t_stop, echem_stop)
            if reason is THINNED:
                continue
            if reason is not None:
                return reason
            done += 1
            if self.mode != REST:
                if self.charge_reached(charge_target):
                    return STOP_CHARGE
                if self.overpotential() > v_cutoff:
                    return STOP_VOLTAGE
        return STOP_EVENTS
