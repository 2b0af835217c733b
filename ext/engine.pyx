# cython: language_level=3
"""Rejection-free lattice kMC engine for metal plating and stripping under a solid electrolyte
(only the optional Metropolis hop rule of the lattice-gas benchmarks thins: metropolis_trial).

Physics rules live in this file; the protocol, observables and I/O live in ``kmc/``.
The rules are documented in docs/model.md and mirrored, slowly and obviously, by the
pure-Python oracle in tests/oracle.py, which must reproduce this engine event for event.

Geometry: sites s = z * ncol + col, col = y * nx + x; periodic in x and y (and in z only for
the lattice-gas benchmark). Layers z < zc are COLLECTOR (a rough or porous collector rises
above them). The separator's underside is a height field h[col] (never below its floor
hmin[col]): sites with z >= h[col] are ELECTROLYTE.

Event channels, each with its own sum tree(s) so that every update stays local:
  thermal  per-site rates: vacancy-exchange hops (bond counting) and adatom hops on the
           collector; under the optional Metropolis lattice-gas rule the hops are instead
           trials of uniformly picked (voxel, direction) pairs from a count set of the
           mobile voxels, thinned at the event (metropolis_trial)
  creep    per-column counts of creep moves at one pressure-dependent rate k_creep(f); the soft
           phase's moves in a second tree at its own rate
  interphase  per-column growth rates of the interphase at a reducible electrolyte
  echem    per-column electrochemical classes (metal, nucleation on bare collector, alloy
           release, strip under a soft or interphase film); the channel's total rate is the
           galvanostatic j A / q, shared between the classes by Butler-Volmer at one electrode
           overpotential (see eta_solve)

Seed (alloy) voxels carry a load byte: absorbed metal units (bits 0-3), capacity (bits 4-6)
and a riding flag (bit 7, the seed moves up with the interface when metal plates under it).
"""
import numpy as np
cimport cython
cimport numpy as cnp
from libc.math cimport log, pow, exp, asinh, fabs, INFINITY
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memset
from cpython.pycapsule cimport PyCapsule_GetPointer
from numpy.random cimport bitgen_t
from sumtree cimport (SumTree, tree_layout, tree_total, tree_set, tree_set_lazy, tree_find,
                     tree_find_near, tree_rebuild, __builtin_prefetch)
from countset cimport CountSet, cset_layout, cset_flip, cset_select, cset_tables

cnp.import_array()
cset_tables()

# Phases (uint8 site state). Keep in sync with kmc/phases.py.
cdef enum:
    EMPTY = 0
    METAL = 1        # active metal, electronically connected to the collector
    DEAD = 2         # metal with no electronic path to the collector
    COLLECTOR = 3
    ELECTROLYTE = 4
    SEED = 5
    SOFT = 6
    INTERPHASE = 7
    NPHASE = 8

# Half-cycle modes.
cdef enum:
    REST = 0
    PLATE = 1
    STRIP = 2

# Reasons why advance() returned.
cdef enum:
    STOP_EVENTS = 0
    STOP_TIME = 1
    STOP_CHARGE = 2
    STOP_VOLTAGE = 3
    STOP_NO_EVENTS = 4
    STOP_OVERFLOW = 5
    STOP_ECHEM = 6

cdef enum:
    MAXG = 6         # at most six conductor neighbours -> six local groups

cdef enum:
    MTAB = 13        # Metropolis factor table: dE = -6 .. 6 at index dE + MTAB_MID
    MTAB_MID = 6

cdef enum:
    RBUF = 64        # uniform draws read ahead from the bit generator (see draw; a power of 2)
    PF_AHEAD = 24    # read-ahead draws whose candidate words are asked for (prefetch_candidates)
    LOOKAHEAD_SITES = 1 << 22   # lattices from here on prefetch the next trial (see draw)

# Electrochemical classes of a column (what its top site can do in the current mode).
cdef enum:
    C_NONE = 0
    C_METAL = 1      # plate onto metal or a live seed / strip metal (no barrier)
    C_NUC = 2        # plate onto bare collector (nucleation overpotential)
    C_REL1 = 3       # release metal from a lithiated seed, first plateau
    C_REL2 = 4       # ... second plateau (seed at most half full)
    C_SOFT = 5       # strip the metal under a soft-phase film (reduced exchange current)
    C_SEI = 6        # strip the metal under an ion-conducting interphase film
    NCLASS = 7

# Seed load byte.
cdef enum:
    LOAD_MASK = 15
    CAP_SHIFT = 4
    CAP_MASK = 7
    RIDE_BIT = 128

PHASES = {"EMPTY": EMPTY, "METAL": METAL, "DEAD": DEAD, "COLLECTOR": COLLECTOR,
          "ELECTROLYTE": ELECTROLYTE, "SEED": SEED, "SOFT": SOFT, "INTERPHASE": INTERPHASE}
MODES = {"rest": REST, "plate": PLATE, "strip": STRIP}
CLASSES = {"none": C_NONE, "metal": C_METAL, "nucleation": C_NUC, "release1": C_REL1,
           "release2": C_REL2, "soft": C_SOFT, "interphase": C_SEI}
STOP_REASONS = {STOP_EVENTS: "events", STOP_TIME: "time", STOP_CHARGE: "charge",
                STOP_VOLTAGE: "voltage", STOP_NO_EVENTS: "no_events",
                STOP_OVERFLOW: "overflow", STOP_ECHEM: "echem"}

# Lookup tables by phase.
cdef unsigned char IS_SOLID[NPHASE]
cdef unsigned char IS_MOBILE[NPHASE]            # hops into vacancies, creeps sideways
cdef unsigned char IS_LIVE_CONDUCTOR[NPHASE]   # conducts and is connected (or is the root)
cdef int DFS_ORDER[6]                          # push up first so down is popped first
IS_SOLID[:] = [0, 1, 1, 1, 0, 1, 1, 1]
IS_MOBILE[:] = [0, 1, 1, 0, 0, 0, 1, 0]
cdef unsigned char DROPS[NPHASE]               # carried down into a void below by creep
DROPS[:] = [0, 1, 1, 0, 0, 1, 1, 1]
IS_LIVE_CONDUCTOR[:] = [0, 1, 0, 1, 0, 1, 1, 0]    # bridges conduct (liveness: bridge_live)
cdef unsigned char IS_BRIDGE[NPHASE]           # conduct electrons, have no live/dead state
IS_BRIDGE[:] = [0, 0, 0, 0, 0, 1, 1, 0]
cdef enum:
    SOFT_SHIFT = 4   # creep counts per site: Li-rate moves (bits 0-3), soft-rate moves (4-7)
    COUNT_MASK = 15
DFS_ORDER[:] = [5, 0, 1, 2, 3, 4]

# The 3x3x3 cube around a site as a 27-bit mask, bit dz*9 + dy*3 + dx (each 0..2); s is bit 13.
cdef int FACE_CELL[6]                          # cube bit of face neighbour d (nbrs order)
FACE_CELL[:] = [12, 14, 10, 16, 4, 22]
cdef unsigned int CUBE_X0 = 0, CUBE_X2 = 0, CUBE_Y0 = 0, CUBE_Y2 = 0
for _i in range(27):
    if _i % 3 == 0:
        CUBE_X0 |= 1u << _i
    if _i % 3 == 2:
        CUBE_X2 |= 1u << _i
    if (_i // 3) % 3 == 0:
        CUBE_Y0 |= 1u << _i
    if (_i // 3) % 3 == 2:
        CUBE_Y2 |= 1u << _i


cdef struct Guess:
    # a Metropolis trial's pick made ahead from read-ahead draws (prefetch_trial)
    int j, used                   # its count set, the draws its pick used
    long long pos                 # the number of its first draw (counted like rpos)
    long long version             # the count sets it was made from (cs_version)
    Py_ssize_t s                  # its voxel
    double y                      # its direction variable


cdef inline unsigned int cube_flood(unsigned int seed, unsigned int cond) noexcept nogil:
    """The cells of cond 6-connected (inside the cube) to any cell of seed."""
    cdef unsigned int m = seed, g
    while True:
        g = (m | ((m << 1) & ~CUBE_X0) | ((m >> 1) & ~CUBE_X2) | ((m << 3) & ~CUBE_Y0)
             | ((m >> 3) & ~CUBE_Y2) | (m << 9) | (m >> 9)) & cond
        if g == m:
            return m
        m = g


# The 7x7 square around a site of a 2D lattice as a 49-bit mask, bit dz*7 + dx (each 0..6);
# s is bit 24 (the wider second local test of metal_removed in 2D).
cdef int SQ_W = 7
cdef int SQ_FACE[6]                            # square bit of face neighbour d (-1: none in 2D)
SQ_FACE[:] = [23, 25, -1, -1, 17, 31]
cdef unsigned long long SQ_X0 = 0, SQ_X6 = 0
for _i in range(49):
    if _i % 7 == 0:
        SQ_X0 |= 1ull << _i
    if _i % 7 == 6:
        SQ_X6 |= 1ull << _i


cdef inline unsigned long long square_flood(unsigned long long seed,
                                            unsigned long long cond) noexcept nogil:
    """The cells of cond 4-connected (inside the square) to any cell of seed."""
    cdef unsigned long long m = seed, g
    while True:
        g = (m | ((m << 1) & ~SQ_X0) | ((m >> 1) & ~SQ_X6) | (m << 7) | (m >> 7)) & cond
        if g == m:
            return m
        m = g


cdef inline int mask_groups(unsigned long long cond, unsigned long long coll, const int* face,
                            bint square, Py_ssize_t* nb, Py_ssize_t* rep,
                            bint* has_root) noexcept nogil:
    """The local groups of a removed site from its neighbourhood mask (the cube, or in 2D
    the 7x7 square): cond holds the conductor cells (the site itself cleared), coll the
    collector cells (joined into one root), face[d] the cell of face neighbour d (nb order,
    -1: none). Returns the number of distinct non-root groups among the conductor
    neighbours, with one representative site each in rep; has_root: some conductor
    neighbour is in the root group (and so certainly live)."""
    cdef unsigned long long root = 0, bit
    cdef unsigned long long comps[6]
    cdef int d, j, ng = 0
    coll &= cond
    if coll:
        root = (square_flood(coll, cond) if square
                else cube_flood(<unsigned int> coll, <unsigned int> cond))
    has_root[0] = False
    for d in range(6):
        if nb[d] < 0 or face[d] < 0:
            continue
        bit = 1ull << face[d]
        if not (cond & bit):
            continue
        if root & bit:
            has_root[0] = True
            continue
        for j in range(ng):
            if comps[j] & bit:
                bit = 0
                break
        if bit:
            comps[ng] = (square_flood(bit, cond) if square
                         else cube_flood(<unsigned int> bit, <unsigned int> cond))
            rep[ng] = nb[d]
            ng += 1
    return ng

cdef struct IntBuf:
    Py_ssize_t* data
    Py_ssize_t n
    Py_ssize_t cap


cdef inline int buf_push(IntBuf* b, Py_ssize_t v) noexcept nogil:
    cdef Py_ssize_t* p
    if b.n == b.cap:
        p = <Py_ssize_t*> realloc(b.data, (2 * b.cap + 64) * sizeof(Py_ssize_t))
        if p == NULL:
            return -1
        b.data = p
        b.cap = 2 * b.cap + 64
    b.data[b.n] = v
    b.n += 1
    return 0


cdef extern from *:
    """
    #if defined(__linux__)
    #include <sys/mman.h>
    #endif
    /* transparent huge pages where the OS has them (Linux); elsewhere a no-op */
    static int kmc_advise_huge(void* addr, size_t length) {
    #if defined(__linux__) && defined(MADV_HUGEPAGE)
        return madvise(addr, length, MADV_HUGEPAGE);
    #else
        (void) addr; (void) length;
        return -1;
    #endif
    }
    """
    int kmc_advise_huge(void* addr, size_t length) nogil

HUGE = 2 * 1024 * 1024         # bytes: a transparent huge page (x86-64)


def lattice_zeros(Py_ssize_t n, dtype=np.float64):
    """A zeroed array of n elements whose data starts on a 64-byte boundary. Arrays of
    HUGE bytes or more start on a huge-page boundary and ask for transparent huge pages
    (before their first touch): the engine reads them at random, and with 4 kB pages every
    read far away costs a TLB miss too. Advice only: contents and results do not change."""
    cdef Py_ssize_t item = np.dtype(dtype).itemsize, align = 64, shift
    if n * item >= HUGE:
        align = HUGE
    raw = np.zeros(n + align // item, dtype=dtype)
    shift = (-raw.ctypes.data % align) // item
    arr = raw[shift:shift + n]
    if align == HUGE:
        kmc_advise_huge(<void*> <size_t> arr.ctypes.data, (n * item // HUGE) * HUGE)
    return arr


# final: no subclasses, so cdef methods are called directly (no vtable), and inlined
@cython.final
cdef class Engine:
    """The kMC state and event loop. All rates are in 1/s, time in s, lengths in voxels.

    Construct with the lattice shape and a dict of rate parameters (see kmc/rates.py, which
    converts the physical configuration into these numbers).
    """
    # shape
    cdef readonly Py_ssize_t nx, ny, nz, ncol, nsite, zc, step, span, dim
    cdef readonly bint periodic_z, track_connectivity, creep_on, has_bridges, has_soft
    cdef readonly bint metropolis  # hop rule: Metropolis lattice gas instead of bond counting
    # arrays (numpy owners + raw pointers)
    cdef readonly object state_arr, h_arr, ccount_arr, nbc_arr, load_arr, lf_arr, cls_arr
    cdef readonly object floor_arr, base_arr, film_arr, ccol_arr, ftab_arr, wmax_arr
    cdef readonly object emp_arr     # Metropolis rule: EMPTY sites, one bit each (emp)
    cdef object tth_arr, tcr_arr, tcs_arr, tse_arr, tcl_arr, vmark_arr, mob_arr
    cdef readonly object bitgen      # the numpy PCG64 whose state the engine advances
    cdef unsigned char* st
    cdef int* h
    cdef int* hmin                # lowest separator height per column (rigid collector relief)
    cdef unsigned char* cc
    cdef int* base                # collector surface per column (metal film starts there)
    cdef int* wmx                 # per column: highest separator in its window (window_max)
    cdef double* film             # thin-film creep factor per column (1 for thick films)
    cdef int* ccol                # creep move counts per column: matrix [c], soft [ncol + c]
    cdef double* ftab             # film factor by separator height above the base (voxels)
    cdef unsigned char* nbc       # per site: empty neighbours | solid neighbours << 3
    cdef SumTree tth              # thermal rates per site (1/s)
    cdef SumTree tcr              # creep move counts per column (matrix metal's rate)
    cdef SumTree tcs              # creep move counts per column (soft phase's rate)
    cdef SumTree tcl[NCLASS]      # per echem class: local current factor of its columns
    cdef unsigned char* ld        # seed load byte per site
    cdef double* lf               # local current factor per column (potential solver; 1)
    cdef unsigned char* cls       # echem class per column
    cdef int* vmark
    cdef bitgen_t* rng
    # parameters
    cdef double k_bond[7]
    cdef double k_soft[7]         # the same for soft-phase voxels (their own diffusivity)
    cdef double k_adatom
    cdef double adh[7]            # hop-rate factor by ELECTROLYTE neighbours (adhesion), metal
    cdef double adh_soft[7]       # the same for soft-phase voxels
    cdef bint adhesion_on
    cdef double mrate[2 * MTAB]   # Metropolis hop rate (1/s) by dE + MTAB_MID: metal, soft
    cdef double mrow[2 * 7 * 8]   # the same by [soft][ne(s)][ne(target)]
    cdef double mpref[2]          # Metropolis prefactor (1/s): metal, soft; bounds every hop
    cdef bint thermal_tree        # the thermal tree holds rates (not so under the Metropolis
                                  # rule without adatom or seed moves: then no refreshes)
    cdef int crit_size
    cdef double pressure, sigma_y, creep_n, eps_y, ell_over_a, creep_cap
    cdef long long cr_key[2]      # creep_rate's last (loaded, soft contacts) per flag ...
    cdef double cr_val[2]         # ... and its value (a pow per event otherwise)
    cdef double soft_sigma_y, soft_creep_n, soft_eps_y
    cdef double soft_stress       # MPa: compression of the soft domains by the matrix around
                                  # them, independent of the stack pressure
    cdef double gain[NCLASS]      # exchange current of each echem class relative to j0
    cdef unsigned char bridge[NPHASE]     # IS_BRIDGE, plus an interphase carrying cell current
    cdef unsigned char conductor[NPHASE]  # IS_LIVE_CONDUCTOR, likewise
    cdef unsigned char stacked[NPHASE]    # a contiguous stack of it under a column top
                                          # decides the top's class: bridges, and an
                                          # ion-conducting interphase film
    cdef double sei_k             # interphase growth rate constant (1/s per exposed column)
    cdef bint sei_linear, sei_ionic, sei_electronic
    cdef bint sei_thin            # the interphase is thinner than a voxel: the metal it
                                  # consumes leaves the lattice (n_consumed), no film voxel
    cdef bint face_seeds          # riding seeds exist: one at a column's top is the
                                  # electrolyte's face, like an attached film (under_face)
    cdef bint film_attached       # an ion-conducting film that is no bridge: the
                                  # electrolyte's face (see face_settles, lift_column)
    cdef SumTree tse              # interphase growth rate per column (1/s)
    cdef double echem_rate, j_over_j0, alpha, f_rt, k_seed
    cdef double k_ride[5]         # riding seed's lateral swap rate (1/s) by seed neighbours
    cdef double onset[NCLASS]
    cdef double v_ohm, v_con
    cdef double eta_cache
    cdef bint eta_dirty
    # dynamic
    cdef readonly int mode
    cdef readonly double t
    cdef readonly long long n_events, n_plated, n_stripped, n_metal, n_dead, n_in_seed
    cdef readonly long long n_thermal, n_creep, n_echem, n_connectivity_searches
    cdef readonly long long n_interphase, n_sei
    cdef readonly long long n_consumed  # metal voxels consumed by a thin interphase
    cdef readonly long long n_null  # Metropolis rule: thinned (rejected) thermal trials
    cdef long long top_count[NPHASE]
    cdef long long n_class[NCLASS]
    cdef int stamp
    cdef IntBuf stack[MAXG]
    cdef IntBuf seen[MAXG]
    cdef IntBuf colq
    cdef Py_ssize_t near_rows[5]  # site offsets of a row and its y and z neighbour rows
    cdef Py_ssize_t* win_max      # scratch windows: window_max, set_height, plating lift
    cdef Py_ssize_t* win_set
    cdef Py_ssize_t* win_lift
    # the Metropolis rule's trials (after the hot fields of every run: they are large)
    cdef unsigned long long* emp  # Metropolis rule: one bit per EMPTY site (a trial tests its
                                  # target here: 1.25 MB at 1e7 sites, not 10 MB of state)
    cdef CountSet mob[2]          # Metropolis rule: mobile voxels at each prefactor (metal
                                  # and dead; soft), the hop trials' uniform picks
    cdef int ndir                 # lattice directions: 2 x dim
    cdef int dirs[6]              # their slots in nbrs order (no y slots in 2D)
    cdef Py_ssize_t dstep[6]      # their site offsets (away from the lattice's edges)
    cdef public bint lookahead    # read draws ahead, prefetch the next trial's lines (draw)
    cdef long long cs_version     # changes of the count sets (a pick made before is stale)
    cdef Guess memo               # the next trial's pick, made early by prefetch_trial,
    cdef Guess memo2              # and the one after it
    cdef double rbuf[RBUF]        # draws read ahead, a ring: draw k at rbuf[k % RBUF]
    cdef long long rpos, rlen     # draws taken, draws read (running counts)
    cdef long long pf             # draws before pf: their candidate words were asked for

    def __cinit__(self):
        cdef int g
        for g in range(MAXG):
            self.stack[g].data = NULL
            self.stack[g].n = 0
            self.stack[g].cap = 0
            self.seen[g].data = NULL
            self.seen[g].n = 0
            self.seen[g].cap = 0
        self.colq.data = NULL
        self.colq.n = 0
        self.colq.cap = 0
        self.win_max = NULL
        self.win_set = NULL
        self.win_lift = NULL

    def __dealloc__(self):
        cdef int g
        for g in range(MAXG):
            free(self.stack[g].data)
            free(self.seen[g].data)
        free(self.colq.data)
        free(self.win_max)
        free(self.win_set)
        free(self.win_lift)

    def __init__(self, int nx, int ny, int nz, int collector_layers, int max_step,
                 dict params, bitgen, bint periodic_z=False, bint track_connectivity=True,
                 int span=1):
        """nx, ny, nz: lattice size in voxels (ny = 1 for 2D); collector_layers: zc;
        max_step: largest separator height difference (voxels, >= 1) between columns of one
        window; span: window half-width in columns (>= 1; the separator is rigid over it);
        params: rates (see set_params); bitgen: a numpy PCG64 bit generator, advanced in place
        by the engine."""
        cdef Py_ssize_t n_words, n_counts
        if nx < 1 or ny < 1 or nz < 2:
            raise ValueError("lattice too small")
        if nx * ny * nz >= 2**31:
            raise ValueError("lattice larger than 2^31 sites")
        if periodic_z and track_connectivity:
            raise ValueError("periodic_z has no collector: use track_connectivity=False")
        self.nx, self.ny, self.nz = nx, ny, nz
        self.dim = 2 if ny == 1 else 3
        self.ncol = nx * ny
        self.nsite = self.ncol * nz
        self.zc = collector_layers
        self.step = max(1, max_step)
        self.span = max(1, min(span, (nx - 1) // 2, (ny - 1) // 2 if ny > 1 else nx))
        self.win_max = <Py_ssize_t*> malloc((2 * self.span + 1) ** 2 * sizeof(Py_ssize_t))
        self.win_set = <Py_ssize_t*> malloc((2 * self.span + 1) ** 2 * sizeof(Py_ssize_t))
        self.win_lift = <Py_ssize_t*> malloc((2 * self.span + 1) ** 2 * sizeof(Py_ssize_t))
        self.periodic_z = periodic_z
        # a thermal event reads the state and counts of its site's row and of the rows
        # beside it: tree_find_near asks for them while it picks among 8 leaves
        for k, off in enumerate((0, nx, -nx, nx * ny, -nx * ny)):
            self.near_rows[k] = off
        self.track_connectivity = track_connectivity
        self.state_arr = lattice_zeros(self.nsite, np.uint8)
        self.h_arr = np.full(self.ncol, nz, dtype=np.intc)
        self.floor_arr = np.zeros(self.ncol, dtype=np.intc)
        self.base_arr = np.zeros(self.ncol, dtype=np.intc)
        self.wmax_arr = np.zeros(self.ncol, dtype=np.intc)
        self.film_arr = np.ones(self.ncol, dtype=np.float64)
        self.ccol_arr = np.zeros(2 * self.ncol, dtype=np.intc)
        self.ftab_arr = np.ones(nz + 1, dtype=np.float64)
        self.ccount_arr = lattice_zeros(self.nsite, np.uint8)
        self.nbc_arr = lattice_zeros(self.nsite, np.uint8)
        self.vmark_arr = lattice_zeros(self.nsite, np.intc)
        self.load_arr = lattice_zeros(self.nsite, np.uint8)
        self.lf_arr = np.ones(self.ncol, dtype=np.float64)
        self.cls_arr = np.zeros(self.ncol, dtype=np.uint8)
        self.tth_arr = lattice_zeros(tree_layout(&self.tth, self.nsite))
        self.tcr_arr = lattice_zeros(tree_layout(&self.tcr, self.ncol))
        self.tcs_arr = lattice_zeros(tree_layout(&self.tcs, self.ncol))
        self.tse_arr = lattice_zeros(tree_layout(&self.tse, self.ncol))
        self.tcl_arr = [lattice_zeros(tree_layout(&self.tcl[k], self.ncol))
                        for k in range(NCLASS)]
        self.emp_arr = lattice_zeros((self.nsite + 63) // 64, np.uint64)
        self.mob_arr = []
        for k in range(2):
            cset_layout(&self.mob[k], self.nsite, &n_words, &n_counts)
            self.mob_arr.append((lattice_zeros(n_words, np.uint64),
                                 lattice_zeros(n_counts, np.uint32)))
        self.ndir = 0
        for k in range(6):
            if self.ny > 1 or k // 2 != 1:
                self.dirs[self.ndir] = k
                self.dstep[self.ndir] = (1, self.nx, self.ncol)[k // 2] * (1 if k % 2 else -1)
                self.ndir += 1
        self.eta_dirty = True
        self._bind_pointers()
        self.bitgen = bitgen
        self.rng = <bitgen_t*> PyCapsule_GetPointer(bitgen.capsule, "BitGenerator")
        self.rpos = self.rlen = self.pf = 0
        self.memo.version = self.memo2.version = -1
        self.mode = REST
        self.set_params(params)

    cdef void _bind_pointers(self):
        cdef cnp.ndarray a
        cdef int k
        a = self.state_arr; self.st = <unsigned char*> a.data
        a = self.h_arr; self.h = <int*> a.data
        a = self.floor_arr; self.hmin = <int*> a.data
        a = self.base_arr; self.base = <int*> a.data
        a = self.wmax_arr; self.wmx = <int*> a.data
        a = self.film_arr; self.film = <double*> a.data
        a = self.ccol_arr; self.ccol = <int*> a.data
        a = self.ftab_arr; self.ftab = <double*> a.data
        a = self.ccount_arr; self.cc = <unsigned char*> a.data
        a = self.nbc_arr; self.nbc = <unsigned char*> a.data
        a = self.vmark_arr; self.vmark = <int*> a.data
        a = self.load_arr; self.ld = <unsigned char*> a.data
        a = self.lf_arr; self.lf = <double*> a.data
        a = self.cls_arr; self.cls = <unsigned char*> a.data
        a = self.tth_arr; self.tth.a = <double*> a.data
        a = self.tcr_arr; self.tcr.a = <double*> a.data
        a = self.tcs_arr; self.tcs.a = <double*> a.data
        a = self.tse_arr; self.tse.a = <double*> a.data
        for k in range(NCLASS):
            a = self.tcl_arr[k]; self.tcl[k].a = <double*> a.data
        a = self.emp_arr; self.emp = <unsigned long long*> a.data
        for k in range(2):
            a = self.mob_arr[k][0]; self.mob[k].bits = <unsigned long long*> a.data
            a = self.mob_arr[k][1]; self.mob[k].cnt = <unsigned int*> a.data

    def set_params(self, dict p):
        """Rate parameters (all precomputed in kmc/rates.py):
        k_bond: 7 hop rates (1/s) per empty neighbour for 0..6 solid neighbours;
        k_soft: the same for soft-phase voxels;
        k_adatom: adatom hop rate per direction (1/s); crit_size: critical nucleus size;
        pressure, sigma_y (MPa), creep_n, eps_y (1/s), ell_over_a, creep_cap (1/s);
        soft_sigma_y (MPa), soft_creep_n, soft_eps_y (1/s): the soft phase's creep law;
        gain: per echem class its exchange current relative to j0 (soft films < 1);
        sei_k (1/s), sei_linear, sei_electronic, sei_ionic: interphase growth (see sei_rate);
        sei_bridge: the interphase carries the cell's electrons (a bridge like seeds);
        sei_thin (optional, default False): the interphase is thinner than a voxel, the metal
        it consumes leaves the lattice (see do_sei);
        echem_rate: galvanostatic event rate (voxels/s); j_over_j0: applied current density over
        the exchange current density; alpha: transfer coefficient; f_rt: F/RT (1/V);
        onset: per echem class the overpotential (V) it needs before it passes current
        (metal 0, nucleation on bare collector, seed release plateaus 1 and 2);
        k_seed: seed/metal exchange rate per metal neighbour (1/s; seeds dissolving in metal);
        k_ride (optional, default 0), ride_bond (optional, default 0): a riding seed on top
        of its column swaps with face metal beside it at k_ride exp(-m ride_bond) per
        partner, m its in-layer seed neighbours (ride_bond: the seed pair energy / kT);
        v_ohm (V), v_con (V): ohmic and constriction voltage constants;
        metropolis_T (optional; absent or <= 0: off): the Metropolis lattice-gas hop rule at
        temperature T (bond units) instead of bond counting, with metropolis_table its
        factors min(1, exp(-2 dE / T)) for dE = -6 .. 6 (kmc.rates.metropolis_params builds
        both; the table is passed, not computed here, so that the oracle reads the same
        doubles). See metropolis_trial.

        Call rebuild() after changing the parameters of a loaded lattice."""
        cdef int i, b
        cdef double T
        for key in ("onset", "gain"):
            if len(p[key]) != NCLASS:
                raise ValueError(f"params[{key!r}] needs {NCLASS} entries, got {len(p[key])}")
        if p["sei_ionic"] and not p["sei_electronic"]:
            # class 'interphase' reads the metal under the film; only a bridge film keeps it
            # up to date (kmc.rates never asks for it: 'mixed' conducts both)
            raise ValueError("an ion-conducting interphase must also conduct electrons")
        kb = p["k_bond"]
        ks = p["k_soft"]
        for i in range(7):
            self.k_bond[i] = kb[i]
            self.k_soft[i] = ks[i]
        self.k_adatom = p["k_adatom"]
        self.adhesion_on = False
        for i in range(7):
            self.adh[i] = p["adhesion"][i] if "adhesion" in p else 1.0
            self.adh_soft[i] = p["adhesion_soft"][i] if "adhesion_soft" in p else 1.0
            self.adhesion_on = self.adhesion_on or self.adh[i] != 1.0 or self.adh_soft[i] != 1.0
        T = p.get("metropolis_T", 0.0) or 0.0
        self.metropolis = T > 0.0
        if self.metropolis:
            tab = p.get("metropolis_table")
            if tab is None or len(tab) != MTAB:
                raise ValueError(f"metropolis_T needs metropolis_table ({MTAB} factors, "
                                 f"dE = -{MTAB_MID} .. {MTAB_MID})")
            b = 2 * self.dim - 1       # prefactor: the hop rate of a bulk voxel (D / a^2)
            for i in range(MTAB):
                want = min(1.0, exp(-2.0 * (i - MTAB_MID) / T))
                if not abs(tab[i] - want) <= 1e-12 * want:
                    raise ValueError(f"metropolis_table[{i}] = {tab[i]!r} is not "
                                     f"min(1, exp(-2 dE / T)) at dE = {i - MTAB_MID}, T = {T}")
                self.mrate[i] = self.k_bond[b] * tab[i]
                self.mrate[MTAB + i] = self.k_soft[b] * tab[i]
            self.mpref[0] = self.k_bond[b]
            self.mpref[1] = self.k_soft[b]
            for i in range(2 * 7 * 8):
                ne_s, j = (i // 8) % 7, i % 8
                k = j + MTAB_MID + 1 - ne_s     # dE + MTAB_MID of a hop into a target with j
                self.mrow[i] = self.mrate[(i // (7 * 8)) * MTAB + k] if 0 <= k < MTAB else 0.0
        self.crit_size = p["crit_size"]
        self.pressure = p["pressure"]
        self.sigma_y = p["sigma_y"]
        self.creep_n = p["creep_n"]
        self.eps_y = p["eps_y"]
        self.ell_over_a = p["ell_over_a"]
        self.creep_cap = p["creep_cap"]
        self.cr_key[0] = -1
        self.cr_key[1] = -1
        self.soft_stress = p.get("soft_stress", 0.0)
        self.creep_on = False         # decided by rebuild() from the lattice
        ft = p.get("film_factor")
        for i in range(self.nz + 1):
            self.ftab[i] = 1.0 if ft is None else ft[min(i, len(ft) - 1)]
        self.echem_rate = p["echem_rate"]
        self.j_over_j0 = p["j_over_j0"]
        self.alpha = p["alpha"]
        self.f_rt = p["f_rt"]
        self.k_seed = p["k_seed"]
        for i in range(5):
            self.k_ride[i] = p.get("k_ride", 0.0) * exp(-i * p.get("ride_bond", 0.0))
        self.thermal_tree = (not self.metropolis or self.k_adatom > 0.0 or self.k_seed > 0.0
                             or self.k_ride[0] > 0.0)
        # Metropolis trials on large lattices read ahead (draw); rewinding needs a generator
        # that can advance (numpy's PCG64 can)
        self.lookahead = (self.metropolis and self.nsite >= LOOKAHEAD_SITES
                          and hasattr(self.bitgen, "advance"))
        for i in range(NPHASE):
            self.bridge[i] = IS_BRIDGE[i]
            self.conductor[i] = IS_LIVE_CONDUCTOR[i]
            self.stacked[i] = IS_BRIDGE[i]
        self.sei_k = p["sei_k"]
        self.sei_linear = p["sei_linear"]
        self.sei_ionic = p["sei_ionic"]
        self.sei_electronic = p["sei_electronic"]
        self.sei_thin = p.get("sei_thin", False)
        if self.sei_thin and (self.sei_ionic or self.sei_electronic or p["sei_bridge"]):
            raise ValueError("a thin interphase has no film voxels to conduct anything")
        if p["sei_bridge"]:
            self.bridge[INTERPHASE] = 1
            self.conductor[INTERPHASE] = 1
        self.stacked[INTERPHASE] = self.bridge[INTERPHASE] or self.sei_ionic
        self.film_attached = self.sei_ionic and not self.bridge[INTERPHASE]
        self.soft_sigma_y = p["soft_sigma_y"]
        self.soft_creep_n = p["soft_creep_n"]
        self.soft_eps_y = p["soft_eps_y"]
        on = p["onset"]
        g = p["gain"]
        for i in range(NCLASS):
            self.onset[i] = on[i]
            self.gain[i] = g[i]
        self.v_ohm = p["v_ohm"]
        self.v_con = p["v_con"]
        self.eta_dirty = True

    # ------------------------------------------------------------------ geometry helpers
    # 32-bit unsigned division: several times cheaper than 64-bit on the hot path
    cdef inline Py_ssize_t col_of(self, Py_ssize_t s) noexcept nogil:
        return <Py_ssize_t> (<unsigned int> s % <unsigned int> self.ncol)

    cdef inline Py_ssize_t z_of(self, Py_ssize_t s) noexcept nogil:
        return <Py_ssize_t> (<unsigned int> s // <unsigned int> self.ncol)

    cdef inline Py_ssize_t x_of(self, Py_ssize_t c) noexcept nogil:
        return <Py_ssize_t> (<unsigned int> c % <unsigned int> self.nx)

    cdef inline Py_ssize_t y_of(self, Py_ssize_t c) noexcept nogil:
        return <Py_ssize_t> (<unsigned int> c // <unsigned int> self.nx)

    cdef inline void nbrs(self, Py_ssize_t s, Py_ssize_t* out) noexcept nogil:
        """Six neighbours of site s in the order -x, +x, -y, +y, -z, +z; -1 where none."""
        cdef Py_ssize_t col = self.col_of(s)
        cdef Py_ssize_t x = self.x_of(col), y = self.y_of(col), z = self.z_of(s)
        cdef Py_ssize_t base = s - x
        out[0] = base + (x - 1 if x > 0 else self.nx - 1)
        out[1] = base + (x + 1 if x < self.nx - 1 else 0)
        if self.ny > 1:
            out[2] = s - self.nx if y > 0 else s + (self.ny - 1) * self.nx
            out[3] = s + self.nx if y < self.ny - 1 else s - (self.ny - 1) * self.nx
        else:
            out[2] = -1
            out[3] = -1
        if z > 0:
            out[4] = s - self.ncol
        elif self.periodic_z:
            out[4] = s + (self.nz - 1) * self.ncol
        else:
            out[4] = -1
        if z < self.nz - 1:
            out[5] = s + self.ncol
        elif self.periodic_z:
            out[5] = s - (self.nz - 1) * self.ncol
        else:
            out[5] = -1

    cdef inline int top_phase(self, Py_ssize_t c) noexcept nogil:
        """Phase of the site just under the separator in column c (what the electrolyte touches)."""
        cdef int hc = self.h[c]
        if hc <= 0 or hc > self.nz:
            return ELECTROLYTE
        return self.st[(hc - 1) * self.ncol + c]

    cdef int window(self, Py_ssize_t c, Py_ssize_t* out) noexcept nogil:
        """Fill out with the columns within Chebyshev distance span of c (c excluded),
        rows -y..+y, each row -x..+x; returns their number."""
        cdef Py_ssize_t x = self.x_of(c), y = self.y_of(c)
        cdef int b = self.span, by = self.span if self.ny > 1 else 0, dx, dy, k = 0
        cdef Py_ssize_t yy, row
        for dy in range(-by, by + 1):
            yy = (y + dy + self.ny) % self.ny if (y + dy < 0 or y + dy >= self.ny) else y + dy
            row = yy * self.nx
            for dx in range(-b, b + 1):
                if dx == 0 and dy == 0:
                    continue
                if x + dx < 0 or x + dx >= self.nx:
                    out[k] = row + (x + dx + self.nx) % self.nx
                else:
                    out[k] = row + x + dx
                k += 1
        return k

    cdef inline int window_max(self, Py_ssize_t c) noexcept nogil:
        """Highest separator (voxels) among the window columns of c (cached: every settle
        check and adatom move reads it; set_height keeps it, rebuild recomputes it)."""
        return self.wmx[c]

    cdef int window_scan(self, Py_ssize_t c) noexcept nogil:
        """window_max of c from the heights."""
        cdef int k, n = self.window(c, self.win_max), m = 0
        for k in range(n):
            if self.h[self.win_max[k]] > m:
                m = self.h[self.win_max[k]]
        return m

    # ------------------------------------------------------------------ rates
    cdef int adatom_moves(self, Py_ssize_t s, Py_ssize_t* nb, Py_ssize_t* cols) noexcept nogil:
        """Lateral moves of a mobile unit on the bare collector; fills cols with target columns
        in neighbour order and returns their number (0 if s is not a mobile adatom)."""
        cdef Py_ssize_t c = self.col_of(s)
        cdef Py_ssize_t z = self.z_of(s)
        cdef int d, n_metal = 0, k = 0
        cdef Py_ssize_t cn
        if self.k_adatom <= 0.0 or z != self.zc or self.st[s] != METAL or self.h[c] != self.zc + 1:
            return 0
        for d in range(4):
            if nb[d] >= 0 and IS_MOBILE[self.st[nb[d]]]:
                n_metal += 1
        if n_metal >= self.crit_size:
            return 0
        # after the move column c drops to zc: its window must stay within the step bound
        if self.window_max(c) > self.zc + self.step:
            return 0
        for d in range(4):
            if nb[d] >= 0:
                cn = self.col_of(nb[d])
                if self.h[cn] == self.zc:
                    cols[k] = cn
                    k += 1
        return k

    cdef inline void count_neighbours(self, Py_ssize_t* nb, int* ne, int* ns) noexcept nogil:
        """Empty neighbours (hop targets) and solid neighbours (bonds) of one site."""
        cdef int d
        cdef unsigned char p
        ne[0] = 0
        ns[0] = 0
        for d in range(6):
            if nb[d] >= 0:
                p = self.st[nb[d]]
                if p == EMPTY:
                    ne[0] += 1
                elif IS_SOLID[p]:
                    ns[0] += 1

    cdef double thermal_rate(self, Py_ssize_t s) noexcept nogil:
        """Hops: (empty neighbours) x k_bond[solid neighbours], from the cached counts (none
        under the Metropolis rule: its hops are trials of their own, metropolis_trial);
        plus adatom moves on the collector layer."""
        cdef Py_ssize_t nb[6]
        cdef Py_ssize_t cols[4]
        cdef unsigned char c
        cdef double r
        cdef int n
        if self.st[s] == SEED:
            r = self.swap_rate(s, nb)
            if self.k_ride[0] > 0.0:
                r += self.ride_rate(s, nb)
            return r
        if not IS_MOBILE[self.st[s]]:
            return 0.0
        c = self.nbc[s]
        if self.metropolis:
            r = 0.0
        else:
            n = self.bonds(s, c >> 3)
            r = (c & 7) * (self.k_soft[n] if self.st[s] == SOFT else self.k_bond[n])
            if self.adhesion_on and (c & 7):
                r = r * self.adhesion_factor(s)
        if self.k_adatom > 0.0 and self.z_of(s) == self.zc:
            self.nbrs(s, nb)
            r += self.adatom_moves(s, nb, cols) * self.k_adatom
        return r

    cdef double adhesion_factor(self, Py_ssize_t s) noexcept nogil:
        """Hop-rate factor of the mobile voxel at s for its contacts with the electrolyte
        (pair energy E_adh each: exp(-m E_adh / kT) for m ELECTROLYTE neighbours, attached
        film included: it is the electrolyte's face)."""
        cdef Py_ssize_t nb[6]
        cdef int d, m = 0
        self.nbrs(s, nb)
        for d in range(6):
            if nb[d] >= 0 and (self.st[nb[d]] == ELECTROLYTE or
                               (self.st[nb[d]] == INTERPHASE and self.film_attached)):
                m += 1
        return self.adh_soft[m] if self.st[s] == SOFT else self.adh[m]

    cdef inline double* metropolis_row(self, Py_ssize_t s) noexcept nogil:
        """Metropolis hop rates (1/s) of the mobile voxel at s by target: row[ne(e)] is the
        rate of its hop into EMPTY neighbour e, prefactor x min(1, exp(-2 dE / T)),
        dE = (ne(e) + 1) - ne(s) (ne counts EMPTY neighbours, with s occupied; s is empty
        after the move). With H = the number of occupied-empty neighbour pairs, a hop
        changes H by 2 dE: the rule is Metropolis at temperature T for H (bond units).
        Other solids count as occupied; bonds, the soft phase's immiscibility included,
        play no part."""
        return &self.mrow[((7 if self.st[s] == SOFT else 0) + (self.nbc[s] & 7)) * 8]

    cdef inline int bonds(self, Py_ssize_t s, int ns) noexcept nogil:
        """Bonds of a mobile voxel with ns solid neighbours: Li and Na do not mix (004), so
        with a soft phase present a metal-soft contact is no bond for either side (pair
        energies: like pairs and pairs with other solids E_b, metal-soft 0); an attached
        film is the electrolyte's face, so a contact with it is no bond either (like one
        with the electrolyte). Only needed when the voxel can hop (an empty neighbour)."""
        cdef Py_ssize_t nb[6]
        cdef int d, n = ns
        cdef unsigned char p = self.st[s], q
        if (not self.has_soft and not self.film_attached) or (self.nbc[s] & 7) == 0:
            return ns
        self.nbrs(s, nb)
        for d in range(6):
            if nb[d] >= 0:
                q = self.st[nb[d]]
                if (q == SOFT) if p != SOFT else (q == METAL or q == DEAD):
                    n -= 1
                elif q == INTERPHASE and self.film_attached:
                    n -= 1
        return n

    cdef int seed_swaps(self, Py_ssize_t s, Py_ssize_t* nb) noexcept nogil:
        """Metal neighbours a seed voxel at s can exchange with (fills nb)."""
        cdef int d, n = 0
        self.nbrs(s, nb)
        for d in range(6):
            if nb[d] >= 0 and self.st[nb[d]] == METAL:
                n += 1
        return n

    cdef inline double swap_rate(self, Py_ssize_t s, Py_ssize_t* nb) noexcept nogil:
        """Solid-solution exchanges of the seed at s: k_seed per METAL neighbour."""
        return self.seed_swaps(s, nb) * self.k_seed if self.k_seed > 0.0 else 0.0

    cdef int ride_swaps(self, Py_ssize_t s, Py_ssize_t* nb, int* m) noexcept nogil:
        """Face metal a riding seed at s can swap with (nb: its neighbours; m: its in-layer
        seed neighbours). Only a riding seed on top of its column over METAL, with partners
        the in-layer METAL neighbours that are the tops of their own columns: the particle
        moves along the electrolyte interface, and the metal that takes its place lies on
        metal (both stay conductors)."""
        cdef Py_ssize_t c = self.col_of(s)
        cdef int d, n = 0, z = self.z_of(s)
        m[0] = 0
        if not self.rides(s) or z != self.h[c] - 1:
            return 0
        self.nbrs(s, nb)
        if nb[4] < 0 or self.st[nb[4]] != METAL:
            return 0
        for d in range(4):
            if nb[d] >= 0:
                if self.face_metal(nb[d], z):
                    n += 1
                elif self.st[nb[d]] == SEED:
                    m[0] += 1
        return n

    cdef inline bint face_metal(self, Py_ssize_t s, int z) noexcept nogil:
        """s is METAL at height z and the top of its column (under the electrolyte)."""
        return self.st[s] == METAL and self.h[self.col_of(s)] == z + 1

    cdef inline double ride_rate(self, Py_ssize_t s, Py_ssize_t* nb) noexcept nogil:
        cdef int m
        cdef int n = self.ride_swaps(s, nb, &m)
        return n * self.k_ride[m]

    cdef void ride_swap(self, Py_ssize_t s, double u) noexcept nogil:
        """The riding seed at s swaps with its pick = int(u n)-th partner (ride_swaps, in
        neighbour order): the particle takes the face metal's site, the metal its own."""
        cdef Py_ssize_t nb[6]
        cdef int m, d, k = 0
        cdef int n = self.ride_swaps(s, nb, &m), pick = <int> (u * n)
        cdef int z = self.z_of(s)
        if pick >= n:
            pick = n - 1
        for d in range(4):
            if nb[d] >= 0 and self.face_metal(nb[d], z):
                if k == pick:
                    self.swap_with_metal(s, nb[d])
                    return
                k += 1

    cdef inline void swap_with_metal(self, Py_ssize_t s, Py_ssize_t dst) noexcept nogil:
        """The seed at s (with its load byte) and the METAL voxel at dst change places."""
        self.ld[dst] = self.ld[s]
        self.ld[s] = 0
        self.set_phase(dst, SEED)
        self.set_phase(s, METAL)

    cdef bint bridge_live(self, Py_ssize_t s) noexcept nogil:
        """A bridge voxel (seed or soft phase) is electronically connected when it, or a
        bridge of the contiguous stack under it in its column, touches live metal or the
        collector (the stack is the only bridge path followed: seed clusters are small and
        a soft film at the interface lies on the metal it came out of)."""
        cdef Py_ssize_t nb[6]
        cdef int d
        while s >= 0 and self.bridge[self.st[s]]:
            self.nbrs(s, nb)
            for d in range(6):
                if nb[d] >= 0 and (self.st[nb[d]] == METAL or self.st[nb[d]] == COLLECTOR):
                    return True
            s = nb[4]
        return False

    cdef Py_ssize_t loaded_seed(self, Py_ssize_t s) noexcept nogil:
        """The first seed holding metal in the contiguous stack from s down (-1 if none):
        metal absorbed deeper in a stack is released through the seeds above it."""
        while s >= 0 and self.st[s] == SEED:
            if self.ld[s] & LOAD_MASK:
                return s
            s = s - self.ncol if s >= self.ncol else -1
        return -1

    cdef int creep_count(self, Py_ssize_t e) noexcept nogil:
        """Creep moves into EMPTY site e: vertical (a voxel above drops in), settle (e is the
        top gap and the separator may come down onto what lies under it), lateral (loaded
        metal beside e that is not its column's top flows in; a soft voxel also from the
        top of its column, where the separator presses it). Moves at the soft phase's rate
        (those of soft voxels, and settles onto soft) count in bits 4-7, the rest in 0-3."""
        cdef Py_ssize_t nb[6]
        cdef Py_ssize_t c, cn
        cdef int d, n = 0
        cdef Py_ssize_t z
        if not self.creep_on or self.st[e] != EMPTY:
            return 0
        self.nbrs(e, nb)
        c = self.col_of(e)
        z = self.z_of(e)
        if nb[5] >= 0 and DROPS[self.st[nb[5]]]:
            if not self.face_settles(nb[5]):
                n += (1 << SOFT_SHIFT) if self.st[nb[5]] == SOFT else 1
            elif self.settle_allowed(c):
                n += 1
        if z == self.h[c] - 1 and self.settle_allowed(c):
            n += (1 << SOFT_SHIFT) if nb[4] >= 0 and self.st[nb[4]] == SOFT else 1
        for d in range(4):
            if nb[d] >= 0 and IS_MOBILE[self.st[nb[d]]]:
                cn = self.col_of(nb[d])
                if self.st[nb[d]] == SOFT:
                    if z <= self.face_h(cn) - 1:
                        n += 1 << SOFT_SHIFT
                elif z < self.face_h(cn) - 1:
                    n += 1
        return n

    cdef bint face_settles(self, Py_ssize_t s) noexcept nogil:
        """s is the electrolyte's face at its column's top (an attached film voxel whose
        stack is the top, or a riding seed on top): a void right under it closes by the
        face coming down with the separator (settle_face), not by the voxel dropping in
        (which would open the void inside the film, or leave a gap over the seed that
        metal would fill and bury it)."""
        cdef Py_ssize_t c, top
        c = self.col_of(s)
        top = (self.h[c] - 1) * self.ncol + c
        if self.rides(s):
            return s == top
        if not self.film_attached or self.st[s] != INTERPHASE:
            return False
        while s < top and self.st[s + self.ncol] == INTERPHASE:
            s += self.ncol
        return s == top

    cdef void settle_face(self, Py_ssize_t c, Py_ssize_t e) noexcept nogil:
        """The face over the void e (attached film, or riding seed with its load) and the
        separator over c come down by one."""
        cdef Py_ssize_t top = (self.h[c] - 1) * self.ncol + c
        if self.st[top] == SEED:
            self.move_face_seed(c, e, ELECTROLYTE, self.h[c] - 1)
            return
        self.set_phase(e, INTERPHASE)
        self.set_phase(top, ELECTROLYTE)
        self.set_height(c, self.h[c] - 1)

    cdef void move_face_seed(self, Py_ssize_t c, Py_ssize_t dst, unsigned char left,
                             int new_h) noexcept nogil:
        """The riding seed at the top of c moves to dst (with its load) as the separator
        moves to new_h; its old site becomes `left` (a gap after a lift, electrolyte after
        a settle); the sites in between are already set."""
        cdef Py_ssize_t top = (self.h[c] - 1) * self.ncol + c
        self.ld[dst] = self.ld[top]
        self.ld[top] = 0
        self.set_phase(dst, SEED)
        self.set_phase(top, left)
        self.set_height(c, new_h)
        self.metal_removed(top)       # the seed was a bridge: what hung on it may be cut off
        self.bridge_arrived(dst)

    cdef inline Py_ssize_t under_face(self, Py_ssize_t c) noexcept nogil:
        """The site right under the face at the top of c (an attached film stack, or a
        riding seed); -1 without one."""
        cdef Py_ssize_t top
        if self.h[c] < 1 or not (self.film_attached or self.face_seeds):
            return -1
        top = (self.h[c] - 1) * self.ncol + c
        if self.rides(top):
            return top - self.ncol
        if self.film_attached and self.st[top] == INTERPHASE:
            return self.under_stack(top)
        return -1

    cdef inline void refresh_under_face(self, Py_ssize_t c) noexcept nogil:
        """The site under the face at the top of c (attached film, riding seed): its
        face-settle move reads the settle condition of c (heights in c's window)."""
        cdef Py_ssize_t s = self.under_face(c)
        if s >= 0:
            self.refresh_site(s)

    cdef void film_face_moved(self, Py_ssize_t c) noexcept nogil:
        """The bottom of the attached film at the top of c may have moved by one: the metal
        next to it changes between interface metal and metal creep moves sideways
        (face_h), so the sites beside the two sites under the film are refreshed."""
        cdef Py_ssize_t s = self.under_face(c)
        if s < 0:
            return
        self.touch_site(s)
        if s >= self.ncol:
            self.touch_site(s - self.ncol)

    cdef inline bint settle_allowed(self, Py_ssize_t c) noexcept nogil:
        """The separator over c may come down one voxel without leaving its window's bound
        or taking its face below its floor (a rigid collector's relief: valleys of a rough
        foil and pore openings stay gaps unless metal fills them; an attached film is that
        face, face_h, so it does not carry the separator deeper)."""
        return (self.face_h(c) > self.hmin[c]
                and self.window_max(c) <= self.h[c] - 1 + self.step)

    cdef int echem_class(self, Py_ssize_t c) noexcept nogil:
        """What the top site of column c can do electrochemically in the current mode."""
        cdef int hc = self.h[c]
        cdef Py_ssize_t s
        cdef int p, load, cap
        if self.mode == REST or hc <= 0 or hc > self.nz:
            return C_NONE
        s = (hc - 1) * self.ncol + c
        p = self.st[s]
        if p == METAL:
            return C_METAL
        if self.mode == PLATE:
            if p == COLLECTOR:
                return C_NUC
            if self.bridge[p] and self.bridge_live(s):
                return C_METAL
            if p == INTERPHASE and self.film_attached:
                # Na+ crosses an attached film (ion-conducting, no cell current) and deposits
                # on what lies under it: metal, or the bare collector (nucleation)
                p = self.st[self.under_stack(s)]
                return C_SEI if p == METAL else (C_NUC if p == COLLECTOR else C_NONE)
            return C_NONE
        if p == SOFT or (p == INTERPHASE and self.sei_ionic):
            # the metal right under a soft or ion-conducting interphase film strips through it
            if self.st[self.under_stack(s)] != METAL:
                return C_NONE
            return C_SOFT if p == SOFT else C_SEI
        if p != SEED or not self.bridge_live(s):
            return C_NONE
        # stripping at a seed: the metal under it goes first (the seed rides down) ...
        if hc - 2 >= 0 and self.st[s - self.ncol] == METAL:
            return C_METAL
        # ... then the seed stack releases what it absorbed, at its plateau's onset
        s = self.loaded_seed(s)
        if s < 0:
            return C_NONE
        load = self.ld[s] & LOAD_MASK
        cap = (self.ld[s] >> CAP_SHIFT) & CAP_MASK
        return C_REL1 if 2 * load > cap else C_REL2

    cdef inline Py_ssize_t under_stack(self, Py_ssize_t s) noexcept nogil:
        """The site right under the contiguous stack of s's phase that s tops."""
        cdef unsigned char p = self.st[s]
        while s >= self.ncol and self.st[s] == p:
            s -= self.ncol
        return s

    cdef inline int face_h(self, Py_ssize_t c) noexcept nogil:
        """Height (voxels) where the electrolyte's face starts over column c: the separator
        h[c], or the bottom of an attached film stack or riding seed at its top (they are
        that face)."""
        cdef Py_ssize_t s = self.under_face(c)
        return self.h[c] if s < 0 else <int> (s // self.ncol) + 1

    cdef double sei_rate(self, Py_ssize_t c) noexcept nogil:
        """Interphase growth rate of column c (1/s): live metal at the top touching the
        electrolyte reacts at sei_k; under an interphase stack of n voxels that passes electrons
        (a mixed film leaks enough of them to grow, without carrying the cell current) it keeps
        reacting, at sei_k (linear, runaway growth) or sei_k / (1 + n) (parabolic:
        transport through the film)."""
        cdef int hc = self.h[c], n = 0
        cdef Py_ssize_t s, top
        if self.sei_k <= 0.0 or hc <= 0 or hc > self.nz:
            return 0.0
        s = top = (hc - 1) * self.ncol + c
        if self.st[s] == INTERPHASE and self.sei_electronic:
            s = self.under_stack(top)
            n = <int> ((top - s) // self.ncol)
        if self.st[s] != METAL:
            return 0.0
        return self.sei_k if self.sei_linear else self.sei_k / (1.0 + n)

    cdef void update_column(self, Py_ssize_t c) noexcept nogil:
        """Put column c into the tree of its current echem class (weight = its local factor)
        and refresh its interphase growth rate."""
        cdef int k = self.echem_class(c)
        cdef int old = self.cls[c]
        cdef double r
        if self.sei_k > 0.0:
            r = self.sei_rate(c)
            if self.tse.a[c] != r:
                tree_set(&self.tse, c, r)
        if k == old and (k == C_NONE or self.tcl[k].a[c] == self.lf[c]):
            return
        if old != C_NONE:
            tree_set(&self.tcl[old], c, 0.0)
        if k != C_NONE:
            tree_set(&self.tcl[k], c, self.lf[c])
        self.n_class[old] -= 1
        self.n_class[k] += 1
        self.cls[c] = k
        self.eta_dirty = True

    cdef inline void refresh_site(self, Py_ssize_t s) noexcept nogil:
        if self.thermal_tree:
            tree_set_lazy(&self.tth, s, self.thermal_rate(s))
        if self.creep_on:
            self.refresh_creep(s)

    cdef inline void refresh_creep(self, Py_ssize_t s) noexcept nogil:
        cdef int old, new
        cdef Py_ssize_t c
        old = self.cc[s]
        new = self.creep_count(s)
        if new != old:
            self.cc[s] = new
            c = self.col_of(s)
            if (new & COUNT_MASK) != (old & COUNT_MASK):
                self.ccol[c] += (new & COUNT_MASK) - (old & COUNT_MASK)
                tree_set(&self.tcr, c, self.ccol[c] * self.film[c])
            if (new >> SOFT_SHIFT) != (old >> SOFT_SHIFT):
                self.ccol[self.ncol + c] += (new >> SOFT_SHIFT) - (old >> SOFT_SHIFT)
                tree_set(&self.tcs, c, self.ccol[self.ncol + c] * self.film[c])

    cdef inline double film_of(self, Py_ssize_t c) noexcept nogil:
        """Thin-film factor of column c from the separator's height above the collector
        surface: a film squeezed between two rigid plates creeps slower the thinner it is."""
        cdef int t = self.h[c] - self.base[c]
        if t < 0:
            t = 0
        elif t > self.nz:
            t = self.nz
        return self.ftab[t]

    cdef inline void refresh_film(self, Py_ssize_t c) noexcept nogil:
        """Column c's film factor and creep leaves after its separator moved."""
        cdef double f = self.film_of(c)
        if f != self.film[c]:
            self.film[c] = f
            tree_set(&self.tcr, c, self.ccol[c] * f)
            tree_set(&self.tcs, c, self.ccol[self.ncol + c] * f)

    cdef inline void touch_site(self, Py_ssize_t s) noexcept nogil:
        """Refresh s and its neighbours; every rate that reads s is among them (the
        Metropolis rule's hop rates are read at the trial: metropolis_trial)."""
        cdef Py_ssize_t nb[6]
        cdef int d
        if not self.thermal_tree and not self.creep_on:
            return
        self.nbrs(s, nb)
        self.prefetch_around(nb)
        self.refresh_site(s)
        for d in range(6):
            if nb[d] >= 0:
                self.refresh_site(nb[d])

    cdef void refresh_column(self, Py_ssize_t c, int old_top) noexcept nogil:
        """Column status after its top site or height changed; old_top is the phase the
        column was counted under."""
        cdef int p = self.top_phase(c)
        self.top_count[old_top] -= 1
        self.top_count[p] += 1
        self.update_column(c)

    cdef void set_height(self, Py_ssize_t c, int new_h) noexcept nogil:
        """Move the separator of column c; the caller has already set the sites in between."""
        cdef int old_h = self.h[c]
        cdef int old_top = self.top_phase(c)
        cdef int lo, hi, z, k, n
        cdef Py_ssize_t cn
        self.h[c] = new_h
        # the window maxima that read h[c] (windows are symmetric: c lies in the window of
        # each column of its own), before any rate reads them
        n = self.window(c, self.win_set)
        for k in range(n):
            cn = self.win_set[k]
            if new_h > self.wmx[cn]:
                self.wmx[cn] = new_h
            elif new_h < old_h and self.wmx[cn] == old_h:
                self.wmx[cn] = self.window_scan(cn)
        self.refresh_column(c, old_top)
        if self.creep_on:
            self.refresh_film(c)
        lo = (old_h if old_h < new_h else new_h) - 2
        hi = old_h if old_h > new_h else new_h
        if lo < 0:
            lo = 0
        if hi > self.nz - 1:
            hi = self.nz - 1
        for z in range(lo, hi + 1):
            self.touch_site(z * self.ncol + c)
        # the settle condition and adatom moves of every column in c's window read h[c]
        self.refresh_site(self.zc * self.ncol + c)
        self.film_face_moved(c)         # (touches the site under c's film: its settle too)
        for k in range(n):
            cn = self.win_set[k]
            if self.h[cn] >= 1:
                self.refresh_site((self.h[cn] - 1) * self.ncol + cn)
            self.refresh_site(self.zc * self.ncol + cn)
            self.refresh_under_face(cn)

    cdef inline void site_changed(self, Py_ssize_t s, int old_phase) noexcept nogil:
        cdef Py_ssize_t c = self.col_of(s)
        cdef Py_ssize_t nb[6]
        cdef int d
        self.touch_site(s)
        if self.z_of(s) == self.h[c] - 1:
            self.top_count[old_phase] -= 1
            self.top_count[self.st[s]] += 1
            self.update_column(c)
            if self.face_seeds and (old_phase == SEED or self.st[s] == SEED) and s >= self.ncol:
                # a riding seed on top is the face: creep beside the site under it reads it
                self.touch_site(s - self.ncol)
        if not self.has_bridges:
            return
        # a stack at the top of its column reads its neighbours (liveness, metal under)
        self.nbrs(s, nb)
        for d in range(6):
            if nb[d] >= 0 and self.stacked[self.st[nb[d]]]:
                self.bridge_stack_changed(nb[d])
        if self.stacked[self.st[s]] or self.stacked[old_phase]:
            self.bridge_stack_changed(s)

    cdef void bridge_stack_changed(self, Py_ssize_t s) noexcept nogil:
        """Reclassify the column of s if s lies in the bridge stack under its top site."""
        cdef Py_ssize_t c = self.col_of(s)
        cdef Py_ssize_t top = (self.h[c] - 1) * self.ncol + c
        if top < 0:
            return
        while s < top and self.stacked[self.st[s + self.ncol]]:
            s += self.ncol
        if s == top or s + self.ncol == top:
            self.update_column(c)

    cdef inline void set_phase(self, Py_ssize_t s, unsigned char p) noexcept nogil:
        cdef unsigned char old = self.st[s]
        if old == p:
            return
        if old == METAL:
            self.n_metal -= 1
        elif old == DEAD:
            self.n_dead -= 1
        if p == METAL:
            self.n_metal += 1
        elif p == DEAD:
            self.n_dead += 1
        self.st[s] = p
        if self.metropolis:
            self.mobile_changed(s, old, p)
            if (old == EMPTY) != (p == EMPTY):
                self.emp[s >> 6] ^= 1ULL << (s & 63)
        self.count_changed(s, old, p)
        self.site_changed(s, old)

    cdef inline void mobile_changed(self, Py_ssize_t s, unsigned char old,
                                    unsigned char p) noexcept nogil:
        """Move s between the Metropolis rule's count sets (metal and dead; soft; none)."""
        cdef int a = (1 if old == SOFT else 0) if IS_MOBILE[old] else -1
        cdef int b = (1 if p == SOFT else 0) if IS_MOBILE[p] else -1
        if a != b:
            self.cs_version += 1
            if a >= 0:
                cset_flip(&self.mob[a], s, -1)
            if b >= 0:
                cset_flip(&self.mob[b], s, 1)

    cdef inline void count_changed(self, Py_ssize_t s, unsigned char old, unsigned char p) noexcept nogil:
        """Update the cached empty/solid neighbour counts of s's neighbours."""
        cdef int delta = (-(old == EMPTY) + (p == EMPTY)) + 8 * (-IS_SOLID[old] + IS_SOLID[p])
        cdef Py_ssize_t nb[6]
        cdef int d
        if delta == 0:
            return
        self.nbrs(s, nb)
        for d in range(6):
            if nb[d] >= 0:
                self.nbc[nb[d]] = <unsigned char> (self.nbc[nb[d]] + delta)

    # ------------------------------------------------------------------ connectivity
    cdef void add_metal(self, Py_ssize_t s) noexcept nogil:
        """Put a metal voxel on empty/electrolyte site s, live if it touches a live conductor
        (metal, the collector, or a seed whose seed cluster does); a live voxel revives every
        dead cluster it joins."""
        cdef Py_ssize_t nb[6]
        cdef int d
        cdef bint live = False, seeds = False
        self.nbrs(s, nb)
        if not self.track_connectivity:
            self.set_phase(s, METAL)
            return
        for d in range(6):
            if nb[d] >= 0:
                if self.st[nb[d]] == METAL or self.st[nb[d]] == COLLECTOR:
                    live = True
                elif self.bridge[self.st[nb[d]]]:
                    seeds = True
        if not live and seeds:
            live = self.reaches_live(s)
        self.set_phase(s, METAL if live else DEAD)
        if live:
            self.revive(s)

    cdef int new_mark(self) noexcept nogil:
        """A fresh vmark stamp for one search."""
        if self.stamp > 2000000000 - MAXG:
            memset(self.vmark, 0, self.nsite * sizeof(int))
            self.stamp = 0
        self.stamp += 1
        return self.stamp

    cdef bint touches_live(self, Py_ssize_t v, Py_ssize_t x, int mark) noexcept nogil:
        """v has a COLLECTOR neighbour or a METAL one other than x and the sites marked."""
        cdef Py_ssize_t nb[6]
        cdef int d
        self.nbrs(v, nb)
        for d in range(6):
            if nb[d] < 0:
                continue
            if self.st[nb[d]] == COLLECTOR:
                return True
            if self.st[nb[d]] == METAL and nb[d] != x and self.vmark[nb[d]] != mark:
                return True
        return False

    cdef bint reaches_live(self, Py_ssize_t x) noexcept nogil:
        """Whether x, or the bridge cluster joined to it, touches live metal (other than x) or
        the collector: the electronic path of a conductor placed or arriving at x. (Dead
        metal never touches live conductors, so the search only follows bridges.)"""
        cdef IntBuf* q = &self.stack[0]
        cdef Py_ssize_t nb[6]
        cdef Py_ssize_t v
        cdef int d, mark = self.new_mark()
        q.n = 0
        self.vmark[x] = mark
        buf_push(q, x)
        while q.n > 0:
            q.n -= 1
            v = q.data[q.n]
            if self.touches_live(v, x, mark):
                return True
            self.nbrs(v, nb)
            for d in range(6):
                if nb[d] >= 0 and self.bridge[self.st[nb[d]]] and self.vmark[nb[d]] != mark:
                    self.vmark[nb[d]] = mark
                    buf_push(q, nb[d])
        return False

    cdef void revive(self, Py_ssize_t s0) noexcept nogil:
        """s0 is a live conductor that was just placed (or a bridge that just arrived): flood
        from it through dead metal (back to METAL) and bridges, one component (joined other
        than through s0) per neighbour of s0. Dead metal never touches a live conductor, so a
        component with a bridge that touches other live metal or the collector was live
        before and holds no dead metal: its flood stops at the first such bridge (inside a
        large soft domain this saves searching the domain's whole interior)."""
        cdef IntBuf* q = &self.stack[0]
        cdef Py_ssize_t nb0[6]
        cdef Py_ssize_t nb[6]
        cdef Py_ssize_t s
        cdef int d0, d, mark = self.new_mark()
        q.n = 0
        self.vmark[s0] = mark
        self.nbrs(s0, nb0)
        for d0 in range(6):
            s = nb0[d0]
            if s < 0 or self.vmark[s] == mark:
                continue
            if self.st[s] == DEAD:
                self.vmark[s] = mark
                self.set_phase(s, METAL)
            elif self.bridge[self.st[s]]:
                self.vmark[s] = mark
            else:
                continue
            q.n = 0
            buf_push(q, s)
            while q.n > 0:
                q.n -= 1
                s = q.data[q.n]
                if self.bridge[self.st[s]] and self.touches_live(s, s0, mark):
                    break
                self.nbrs(s, nb)
                for d in range(6):
                    if nb[d] < 0 or self.vmark[nb[d]] == mark:
                        continue
                    if self.st[nb[d]] == DEAD:
                        self.vmark[nb[d]] = mark
                        self.set_phase(nb[d], METAL)
                        buf_push(q, nb[d])
                    elif self.bridge[self.st[nb[d]]]:
                        self.vmark[nb[d]] = mark
                        buf_push(q, nb[d])

    cdef void bridge_arrived(self, Py_ssize_t x) noexcept nogil:
        """A bridge moved to x: if it is live there, the dead metal it now joins revives."""
        if self.track_connectivity and self.reaches_live(x):
            self.revive(x)

    cdef void metal_removed(self, Py_ssize_t s) noexcept nogil:
        """Site s held live metal and no longer conducts: mark what lost its path as DEAD.

        First a local test: if all conductor neighbours of s are joined inside the 3x3x3 cube
        around s (collector sites count as one root), nothing can have disconnected. Otherwise
        one depth-first search per local group, run in lockstep and heading down first; a group
        that reaches the collector is live, one that runs out of sites is dead, and once all
        but one group are resolved dead the last one must hold s's old path to the collector.
        """
        cdef Py_ssize_t nb[6]
        cdef Py_ssize_t rep[MAXG]
        cdef int ngroups, d, n_live_nb = 0
        cdef bint has_root = False
        if not self.track_connectivity:
            return
        self.nbrs(s, nb)
        for d in range(6):
            if nb[d] >= 0 and (self.st[nb[d]] == METAL or self.bridge[self.st[nb[d]]]):
                n_live_nb += 1
        if n_live_nb == 0:
            return
        ngroups = self.local_groups(s, nb, rep, &has_root)
        if ngroups == 0 or (ngroups == 1 and not has_root):
            return
        if self.ny == 1 and self.nx >= SQ_W and not self.periodic_z:
            # in 2D a path around s often leaves the 3x3 square: try 7x7 before a search
            ngroups = self.square_groups(s, nb, rep, &has_root)
            if ngroups == 0 or (ngroups == 1 and not has_root):
                return
        self.n_connectivity_searches += 1
        self.resolve_groups(ngroups, rep, has_root)

    cdef int local_groups(self, Py_ssize_t s, Py_ssize_t* nb, Py_ssize_t* rep,
                          bint* has_root) noexcept nogil:
        """Label 6-connected conductor components in the cube around s (s excluded), all
        collector sites joined into one root (mask_groups: the groups among s's conductor
        neighbours, one representative site each, and whether one of them is in the root).

        The cube is a 27-bit mask (bit dz*9 + dy*3 + dx); components grow by flood fill with
        shifts (cube_flood), which is several times cheaper than a per-cell search."""
        cdef unsigned int cond = 0, coll = 0, bit
        cdef Py_ssize_t col = self.col_of(s)
        cdef Py_ssize_t z = self.z_of(s)
        cdef Py_ssize_t x = self.x_of(col)
        cdef Py_ssize_t y = self.y_of(col)
        cdef Py_ssize_t xs[3]
        cdef Py_ssize_t ys[3]
        cdef Py_ssize_t zz, row, v
        cdef int dx, dy, dz, ylo = 0, yhi = 3
        cdef unsigned char p
        xs[0] = x - 1 if x > 0 else self.nx - 1
        xs[1] = x
        xs[2] = x + 1 if x < self.nx - 1 else 0
        ys[0] = (y - 1 if y > 0 else self.ny - 1) * self.nx
        ys[1] = y * self.nx
        ys[2] = (y + 1 if y < self.ny - 1 else 0) * self.nx
        if self.ny == 1:
            ylo = 1
            yhi = 2
        for dz in range(3):
            zz = z + dz - 1
            if zz < 0 or zz >= self.nz:
                continue
            for dy in range(ylo, yhi):
                row = zz * self.ncol + ys[dy]
                for dx in range(3):
                    v = row + xs[dx]
                    p = self.st[v]
                    if self.conductor[p]:
                        bit = 1u << (dz * 9 + dy * 3 + dx)
                        cond |= bit
                        if p == COLLECTOR:
                            coll |= bit
        cond &= ~(1u << 13)                       # s itself
        return mask_groups(cond, coll, FACE_CELL, False, nb, rep, has_root)

    cdef int square_groups(self, Py_ssize_t s, Py_ssize_t* nb, Py_ssize_t* rep,
                           bint* has_root) noexcept nogil:
        """local_groups on the 7x7 square around s of a 2D lattice (x periodic, nx >= 7 so
        that no cell but the centre is s; z bounded)."""
        cdef unsigned long long cond = 0, coll = 0, bit
        cdef Py_ssize_t x = self.x_of(self.col_of(s)), z = self.z_of(s)
        cdef Py_ssize_t xs[7]
        cdef Py_ssize_t zz, row
        cdef int dx, dz
        cdef unsigned char p
        for dx in range(SQ_W):
            xs[dx] = (x + dx - 3 + self.nx) % self.nx
        for dz in range(SQ_W):
            zz = z + dz - 3
            if zz < 0 or zz >= self.nz:
                continue
            row = zz * self.ncol
            for dx in range(SQ_W):
                p = self.st[row + xs[dx]]
                if self.conductor[p]:
                    bit = 1ull << (dz * SQ_W + dx)
                    cond |= bit
                    if p == COLLECTOR:
                        coll |= bit
        cond &= ~(1ull << 24)                     # s itself
        return mask_groups(cond, coll, SQ_FACE, True, nb, rep, has_root)

    cdef void resolve_groups(self, int ng, Py_ssize_t* rep, bint has_root) noexcept nogil:
        """Lockstep searches from each group representative (see metal_removed)."""
        cdef int status[MAXG]       # 0 searching, 1 live, 2 dead, 3 merged into alias[g]
        cdef int alias[MAXG]
        cdef int g, h2, i, d, unresolved, base
        cdef Py_ssize_t k
        cdef int live_found = 1 if has_root else 0
        cdef Py_ssize_t nb[6]
        cdef Py_ssize_t v, w
        cdef unsigned char p
        if self.stamp > 2000000000 - MAXG:
            memset(self.vmark, 0, self.nsite * sizeof(int))
            self.stamp = 0
        base = self.stamp + 1
        self.stamp += ng
        for g in range(ng):
            status[g] = 0
            alias[g] = g
            self.stack[g].n = 0
            self.seen[g].n = 0
            buf_push(&self.stack[g], rep[g])
            buf_push(&self.seen[g], rep[g])
            self.vmark[rep[g]] = base + g
        while True:
            unresolved = 0
            for g in range(ng):
                if status[g] == 0:
                    unresolved += 1
            if unresolved == 0 or (unresolved == 1 and live_found == 0):
                break
            for g in range(ng):
                if status[g] != 0:
                    continue
                if self.stack[g].n == 0:
                    status[g] = 2
                    continue
                self.stack[g].n -= 1
                v = self.stack[g].data[self.stack[g].n]
                self.nbrs(v, nb)
                for i in range(6):
                    w = nb[DFS_ORDER[i]]
                    if w < 0:
                        continue
                    p = self.st[w]
                    if p == COLLECTOR:
                        status[g] = 1
                        live_found = 1
                        break
                    if p != METAL and not self.bridge[p]:
                        continue
                    if self.vmark[w] == base + g:
                        continue
                    if self.vmark[w] >= base and self.vmark[w] < base + ng:
                        h2 = self.vmark[w] - base
                        while status[h2] == 3:
                            h2 = alias[h2]
                        if h2 != g:
                            # same component: g joins h2, handing over its unexplored frontier
                            # (v included: its remaining neighbours are not yet pushed)
                            status[g] = 3
                            alias[g] = h2
                            if status[h2] == 0:
                                buf_push(&self.stack[g], v)
                                for k in range(self.stack[g].n):
                                    buf_push(&self.stack[h2], self.stack[g].data[k])
                            self.stack[g].n = 0
                            break
                        continue
                    self.vmark[w] = base + g
                    buf_push(&self.stack[g], w)
                    buf_push(&self.seen[g], w)
        # resolve aliases to their final status and kill the dead groups
        for g in range(ng):
            h2 = g
            while status[h2] == 3:
                h2 = alias[h2]
            if status[h2] == 2:
                self.kill_seen(g)

    cdef void kill_seen(self, int g) noexcept nogil:
        cdef Py_ssize_t i
        for i in range(self.seen[g].n):
            if self.st[self.seen[g].data[i]] == METAL:
                self.set_phase(self.seen[g].data[i], DEAD)

    cdef inline bint rides(self, Py_ssize_t s) noexcept nogil:
        """s holds a riding seed (stuck to the electrolyte: it moves with the face)."""
        return self.face_seeds and self.st[s] == SEED and (self.ld[s] & RIDE_BIT) != 0

    # ------------------------------------------------------------------ events
    cdef int do_plate(self, Py_ssize_t c) noexcept nogil:
        cdef int hc = self.h[c]
        cdef int need, z, k, n, hn
        cdef Py_ssize_t cc2, cn, top = (hc - 1) * self.ncol + c
        cdef unsigned char ld
        self.n_plated += 1
        if self.st[top] == SEED:
            ld = self.ld[top]
            if (ld & LOAD_MASK) < ((ld >> CAP_SHIFT) & CAP_MASK):
                # alloying: the seed absorbs the unit, no volume change
                self.ld[top] = ld + 1
                self.n_in_seed += 1
                self.update_column(c)
                return 0
        if hc >= self.nz:
            self.n_plated -= 1
            return -1
        if self.rides(top):
            # a riding seed stays at the interface: the new metal goes in under it
            self.ld[top + self.ncol] = self.ld[top]
            self.ld[top] = 0
            self.set_phase(top + self.ncol, SEED)
            self.set_phase(top, EMPTY)
            self.add_metal(top)
            self.bridge_arrived(top + self.ncol)
        elif self.st[top] == INTERPHASE and self.film_attached:
            # under an attached film (echem_class): the film rides up by one voxel and its
            # bottom voxel becomes the new metal
            self.set_phase(hc * self.ncol + c, INTERPHASE)
            top = self.under_stack(top) + self.ncol
            self.set_phase(top, EMPTY)
            self.add_metal(top)
        else:
            self.add_metal(hc * self.ncol + c)
        self.set_height(c, hc + 1)
        # the separator lifts off neighbours that would exceed the slope bound
        self.colq.n = 0
        buf_push(&self.colq, c)
        while self.colq.n > 0:
            self.colq.n -= 1
            cc2 = self.colq.data[self.colq.n]
            need = self.h[cc2] - self.step
            n = self.window(cc2, self.win_lift)
            for k in range(n):
                cn = self.win_lift[k]
                hn = self.h[cn]
                if hn < need:
                    self.lift_column(cn, need)
                    buf_push(&self.colq, cn)
        return 0

    cdef void lift_column(self, Py_ssize_t c, int new_h) noexcept nogil:
        """The separator over c rises to new_h, leaving EMPTY gaps; an attached film at the
        top is the electrolyte's face and rises with it, so the gap opens under the film
        (metal never gets between the film and the electrolyte). So does a riding seed at
        the top (an Au particle stuck to the electrolyte, 001): creep then fills the gap
        under it instead of burying it."""
        cdef int hc = self.h[c], lo = self.h[c], n = 0, z
        cdef Py_ssize_t top = (hc - 1) * self.ncol + c
        if hc >= 1 and self.rides(top):
            for z in range(hc, new_h - 1):
                self.set_phase(z * self.ncol + c, EMPTY)
            self.move_face_seed(c, (new_h - 1) * self.ncol + c, EMPTY, new_h)
            return
        if hc >= 1 and self.film_attached and self.st[top] == INTERPHASE:
            lo = <int> (self.under_stack(top) // self.ncol) + 1    # the stack is [lo, hc)
            n = hc - lo
        for z in range(lo, new_h):
            self.set_phase(z * self.ncol + c, INTERPHASE if z >= new_h - n else EMPTY)
        self.set_height(c, new_h)
        if n > 0 and lo >= 1:
            self.touch_site((lo - 1) * self.ncol + c)   # no longer under the film (face_h)

    cdef void do_strip(self, Py_ssize_t c, int k) noexcept nogil:
        cdef Py_ssize_t s = (self.h[c] - 1) * self.ncol + c, b
        cdef unsigned char film
        self.n_stripped += 1
        if k == C_REL1 or k == C_REL2:
            # alloy release: the seed stack gives back one absorbed unit
            s = self.loaded_seed(s)
            self.ld[s] -= 1
            self.n_in_seed -= 1
            self.update_column(c)
            return
        if (k == C_SEI and self.film_attached) or self.rides(s):
            # the metal under the electrolyte's face (an attached film, a riding seed)
            # strips: a void opens under the face, which comes down with the separator (a
            # creep move, face_settles)
            b = self.under_face(c)
            self.set_phase(b, EMPTY)
            self.metal_removed(b)
            return
        if k == C_SOFT or k == C_SEI:
            # the metal under the film stack strips and the stack drops into its place
            film = self.st[s]
            self.set_phase(self.under_stack(s), film)
            self.set_phase(s, EMPTY)
            self.metal_removed(s)
            return
        if self.st[s] == SEED:
            # the metal under a seed strips and the seed drops into its place
            self.ld[s - self.ncol] = self.ld[s]
            self.ld[s] = 0
            self.set_phase(s - self.ncol, SEED)
            self.set_phase(s, EMPTY)
            self.metal_removed(s)
            return
        self.set_phase(s, EMPTY)
        self.metal_removed(s)

    cdef void do_sei(self, Py_ssize_t c) noexcept nogil:
        """The reacting metal voxel of column c (see sei_rate) becomes interphase; a thin
        interphase (nm, far below a voxel) is not resolved: the metal it consumed leaves the
        lattice into its inventory line, and the separator closes the gap like after a
        strip."""
        cdef Py_ssize_t s = (self.h[c] - 1) * self.ncol + c
        if self.sei_thin:
            self.n_consumed += 1
            self.set_phase(s, EMPTY)
            self.metal_removed(s)
            return
        if self.st[s] == INTERPHASE:
            s = self.under_stack(s)
        self.n_interphase += 1
        self.set_phase(s, INTERPHASE)
        if not self.bridge[INTERPHASE]:
            self.metal_removed(s)
        self.film_face_moved(c)

    cdef inline void prefetch_around(self, Py_ssize_t* nb) noexcept nogil:
        """Ask for the state, counts and thermal leaves of the neighbours nb at once: they
        lie far apart (other rows and layers), and reading them one by one would wait for
        one cache miss after another."""
        cdef int d
        for d in range(6):
            if nb[d] >= 0:
                __builtin_prefetch(&self.st[nb[d]])
                __builtin_prefetch(&self.nbc[nb[d]])
                # (also when the tree is unused: with a branch here gcc compiled the
                # refresh path slower, bond counting -20 % in A/B runs)
                __builtin_prefetch(&self.tth.a[nb[d]])

    cdef void move_metal(self, Py_ssize_t src, Py_ssize_t dst, bint prefetched) noexcept nogil:
        """Vacancy exchange: the metal (or soft) voxel at src moves into EMPTY site dst
        (prefetched: the hop's lines were asked for before, see prefetch_trial)."""
        cdef unsigned char p = self.st[src]
        cdef Py_ssize_t nb[6]
        if not prefetched:
            self.nbrs(dst, nb)
            self.prefetch_around(nb)    # dst's neighbourhood is read after src's
        self.set_phase(src, EMPTY)
        if p == METAL or p == SOFT:
            self.metal_removed(src)
        if p == SOFT:
            self.set_phase(dst, SOFT)
            self.bridge_arrived(dst)
        elif p == METAL or self.track_connectivity:
            self.add_metal(dst)
        else:
            self.set_phase(dst, p)

    cdef void do_thermal(self, Py_ssize_t s, double u) noexcept nogil:
        """Sub-choice of a thermal event at s with the uniform u. A seed exchanges with a
        metal neighbour (seed_swap) or, riding, moves along the face (ride_swap: beyond
        x = u x rate >= its exchanges' share). Metal or soft: x = u x (ne k + na k_adatom), k the hop
        rate per EMPTY neighbour (k_bond[bonds], k_soft[...] for soft); below ne k, the hop
        into the pick-th EMPTY neighbour e, pick = int(x / k) (clamped); beyond, an adatom
        move. (Under the Metropolis rule hops are not in this channel: ne counts as 0.)"""
        cdef Py_ssize_t nb[6]
        cdef Py_ssize_t cols[4]
        cdef Py_ssize_t e = -1
        cdef int d, na, pick, j = 0
        cdef int ne = 0 if self.metropolis else self.nbc[s] & 7
        cdef double k = 0.0, r_hop, r_ride, x
        if self.st[s] == SEED:
            if self.k_ride[0] > 0.0:
                # a riding particle's move along the face, beyond the solid-solution swaps
                k = self.swap_rate(s, nb)
                r_ride = self.ride_rate(s, nb)
                x = u * (k + r_ride)
                if x >= k:
                    self.ride_swap(s, (x - k) / r_ride)
                    return
                u = x / k
            self.seed_swap(s, u)
            return
        self.nbrs(s, nb)
        na = self.adatom_moves(s, nb, cols)
        if not self.metropolis:
            if self.st[s] == SOFT:
                k = self.k_soft[self.bonds(s, self.nbc[s] >> 3)]
            else:
                k = self.k_bond[self.bonds(s, self.nbc[s] >> 3)]
        r_hop = ne * k
        x = u * (r_hop + na * self.k_adatom)
        if ne > 0 and (x < r_hop or na == 0):
            pick = <int> (x / k)
            if pick >= ne:
                pick = ne - 1
            for d in range(6):
                if nb[d] >= 0 and self.st[nb[d]] == EMPTY:
                    if j == pick:
                        e = nb[d]
                        break
                    j += 1
            if e < 0:
                return          # (unreachable: ne is the cached count of this very scan)
            self.move_metal(s, e, False)
        else:
            self.adatom_hop(s, x - r_hop, na, cols)

    cdef bint metropolis_trial(self) noexcept nogil:
        """A hop trial of the Metropolis rule (draws its own uniforms); False when it is
        thinned.

        The rate of a hop reads the empty count of its target (metropolis_row), so exact
        per-site rates would change whenever a site two steps away fills or empties. Every
        (mobile voxel, direction) pair is instead bounded by its prefactor, which changes
        only with the voxel's phase: the trials' total is ndir x (n_metal_dead x mpref[0] +
        n_soft x mpref[1]), and a trial picks its voxel uniformly in a count set, no per-site
        rates at all (trial_pick), then the direction dirs[int(y)] (clamped) from its y in
        [0, ndir); the hop into that neighbour e happens if e is EMPTY and
        (y - int(y)) x prefactor < its rate row[ne(e)]. Otherwise nothing changes, but the
        clock has advanced: the Poisson stream of the bound thinned with probability
        rate / prefactor, which keeps the dynamics exact."""
        cdef Py_ssize_t s, e
        cdef double y
        cdef int j, d
        cdef long long version
        if (self.lookahead and self.memo.version == self.cs_version
                and self.memo.pos == self.rpos):
            self.rpos += self.memo.used        # the pick prefetch_trial made from these draws
            j = self.memo.j
            s = self.memo.s
            y = self.memo.y
        else:
            s = self.trial_pick(&j, &y, NULL)
        if self.lookahead:
            self.prefetch_trial()
        e = self.trial_target(s, y, &d)
        if e < 0 or not self.is_empty(e):
            return False
        if not ((y - d) * self.mpref[j] < self.metropolis_row(s)[self.nbc[e] & 7]):
            return False
        version = self.cs_version
        self.move_metal(s, e, self.lookahead)
        if self.lookahead:
            # the guesses stay right unless the hop touched what they tested
            if self.memo.version == version and self.guess_survives(&self.memo, s, e):
                self.memo.version = self.cs_version
            if self.memo2.version == version and self.guess_survives(&self.memo2, s, e):
                self.memo2.version = self.cs_version
        return True

    cdef bint guess_survives(self, Guess* g, Py_ssize_t src, Py_ssize_t dst) noexcept nogil:
        """Whether a guessed pick stays what trial_pick makes after a hop from src to dst
        (src left the count set, dst joined it, the sets' sizes are as they were): with one
        dense set (sites drawn until a member) it does unless src was the pick or dst one
        of the candidates rejected before it."""
        cdef long long k
        if self.lone_dense_set() != g.j or g.s == src:
            return False
        for k in range(g.pos, g.pos + g.used - 1):
            if self.candidate(self.rbuf[k & (RBUF - 1)] * self.nsite) == dst:
                return False
        return True

    cdef Py_ssize_t trial_pick(self, int* j, double* y, long long* ahead) noexcept nogil:
        """A trial's count set j, voxel (returned) and direction variable y in [0, ndir),
        from draws taken only where there is a choice:
        - the set: with both sets non-empty, u1: x = u1 x (w0 + w1), w_j = n_j x
          prefactor_j, set 1 if x >= w0 (then x -= w0); else the non-empty set;
        - a dense set (a quarter of the sites or more): v = u x nsite for fresh draws u
          until s = int(v) (clamped) is a member (~nsite / n_j draws); y = (v - s) x ndir
          (the rest of the draw that found s is uniform and independent of s);
        - otherwise: x from u1, or else x = u x w_j, the k-th member in site order,
          k = int(x / prefactor_j) (clamped); y = u2 x ndir.
        ahead: NULL to take draws, or where in rbuf to read them without taking them
        (advanced past them; -1 is returned if the read-ahead draws run out)."""
        cdef Py_ssize_t s
        cdef long long k
        cdef double x = -1.0, u, v
        if self.mob[0].n > 0 and self.mob[1].n > 0:
            u = self.take(ahead)
            if u < 0.0:
                return -1
            x = self.trial_set(u, j)
        else:
            j[0] = 0 if self.mob[0].n > 0 else 1
        if 4 * self.mob[j[0]].n >= self.nsite:
            while True:
                u = self.take(ahead)
                if u < 0.0:
                    return -1
                v = u * self.nsite
                s = self.candidate(v)
                if self.mob[j[0]].bits[s >> 6] >> (s & 63) & 1:
                    y[0] = (v - s) * self.ndir
                    return s
        if x < 0.0:
            u = self.take(ahead)
            if u < 0.0:
                return -1
            x = u * (self.mob[j[0]].n * self.mpref[j[0]])
        k = <long long> (x / self.mpref[j[0]])
        if k >= self.mob[j[0]].n:
            k = self.mob[j[0]].n - 1
        s = cset_select(&self.mob[j[0]], k)
        u = self.take(ahead)
        if u < 0.0:
            return -1
        y[0] = u * self.ndir
        return s

    cdef inline Py_ssize_t trial_target(self, Py_ssize_t s, double y, int* d) noexcept nogil:
        """A trial's target from its direction variable y in [0, ndir): the neighbour of s
        in direction dirs[d], d = int(y) (clamped); -1 where there is none."""
        cdef Py_ssize_t nb[6]
        d[0] = <int> y
        if d[0] >= self.ndir:
            d[0] = self.ndir - 1
        self.nbrs(s, nb)
        return nb[self.dirs[d[0]]]

    cdef inline double trial_set(self, double u1, int* j) noexcept nogil:
        """Set j from u1 by weight (both sets non-empty); returns x, the rest of
        u1 x (w0 + w1) inside set j."""
        cdef double w0 = self.mob[0].n * self.mpref[0], w1 = self.mob[1].n * self.mpref[1]
        cdef double x = u1 * (w0 + w1)
        j[0] = 0
        if x >= w0:
            j[0] = 1
            x -= w0
        return x

    cdef inline double take(self, long long* ahead) noexcept nogil:
        """The next draw (ahead NULL), or the read-ahead draw number ahead[0] without
        taking it (ahead advanced; -1 when the read-ahead draws have run out)."""
        if ahead == NULL:
            return self.draw()
        if ahead[0] >= self.rlen:
            return -1.0
        ahead[0] += 1
        return self.rbuf[(ahead[0] - 1) & (RBUF - 1)]

    cdef inline int lone_dense_set(self) noexcept nogil:
        """The count set that trial_pick draws sites from without a set draw first (the
        only non-empty one, holding a quarter of the sites or more: every draw is a
        candidate voxel); -1 if there is none (the guesses then read no draws ahead)."""
        cdef int j
        if self.mob[0].n > 0 and self.mob[1].n > 0:
            return -1
        j = 0 if self.mob[0].n > 0 else 1
        return j if 4 * self.mob[j].n >= self.nsite else -1

    cdef inline Py_ssize_t candidate(self, double v) noexcept nogil:
        """The voxel a dense set's draw v = u x nsite names: int(v), clamped (trial_pick;
        the guesses and their prefetches must read draws the same way)."""
        cdef Py_ssize_t s = <Py_ssize_t> v
        return s if s < self.nsite else self.nsite - 1

    cdef inline bint is_empty(self, Py_ssize_t s) noexcept nogil:
        """Site s is EMPTY (Metropolis rule: its bit in emp)."""
        return self.emp[s >> 6] >> (s & 63) & 1

    cdef inline Py_ssize_t near_target(self, Py_ssize_t s, double y) noexcept nogil:
        """trial_target's guess for prefetching: without the lattice's wrapping and without
        nbrs's divisions (a wrong site at an edge costs only speed); -1 off the lattice."""
        cdef int d = <int> y
        if d >= self.ndir:
            d = self.ndir - 1
        s += self.dstep[d]
        return s if 0 <= s < self.nsite else -1

    cdef void prefetch_trial(self) noexcept nogil:
        """Guess the next two trials from the draws after the current one's (called when
        the current trial has taken its draws; if the next event is a trial, its own draws
        start 2 ahead: after its waiting time and channel): their picks, made from the
        read-ahead draws (metropolis_trial takes the next one over if it starts there and
        no count set has changed since, or only where the guess did not look; the one
        after becomes the next at the next call). The candidates' bitmap words were asked
        for further ahead (prefetch_candidates). Only speed depends on all this."""
        if self.rlen - self.rpos < RBUF // 2:
            self.refill()
        self.prefetch_candidates()
        if self.memo2.pos == self.rpos + 2 and self.memo2.version == self.cs_version:
            self.memo = self.memo2              # (its lines were asked for a trial ago)
        elif not self.guess(&self.memo, self.rpos + 2):
            return                              # (past the read-ahead draws: no guess)
        if not self.guess(&self.memo2, self.memo.pos + self.memo.used + 2):
            self.memo2.version = -1

    cdef bint guess(self, Guess* g, long long pos) noexcept nogil:
        """The pick of a trial whose draws start at draw number pos; if its target is
        EMPTY (a likely hop), ask for the lines the hop reads (the state and counts of voxel
        and target, their columns' heights) and writes (their neighbours' counts, the count set's word of the
        target and the word counts of both on two levels); a guess whose target is not
        EMPTY is thinned on the bitmaps alone. False past the read-ahead draws."""
        cdef long long i = pos
        cdef Py_ssize_t s, e, t
        cdef CountSet* c
        cdef int d
        s = self.trial_pick(&g.j, &g.y, &i)
        if s < 0:
            return False
        g.s = s
        g.used = <int> (i - pos)
        g.pos = pos
        g.version = self.cs_version
        e = self.near_target(s, g.y)
        if e < 0 or not self.is_empty(e):
            return True
        c = &self.mob[g.j]
        __builtin_prefetch(&self.st[s])
        __builtin_prefetch(&self.st[e])
        __builtin_prefetch(&self.h[self.col_of(s)])     # (site_changed: is it a column top)
        __builtin_prefetch(&self.h[self.col_of(e)])
        __builtin_prefetch(&c.bits[e >> 6])
        __builtin_prefetch(&c.cnt[c.off[0] + (s >> 6)])
        __builtin_prefetch(&c.cnt[c.off[0] + (e >> 6)])
        __builtin_prefetch(&c.cnt[c.off[1] + (s >> 9)])
        __builtin_prefetch(&c.cnt[c.off[1] + (e >> 9)])
        for d in range(self.ndir):
            t = s + self.dstep[d]
            if 0 <= t < self.nsite:
                __builtin_prefetch(&self.nbc[t])
            t = e + self.dstep[d]
            if 0 <= t < self.nsite:
                __builtin_prefetch(&self.nbc[t])
        return True

    cdef inline void prefetch_candidates(self) noexcept nogil:
        """Ask for the bitmap words that the read-ahead draws up to PF_AHEAD past rpos
        would test as candidate voxels of a dense set (trial_pick: v = u x nsite, the voxel
        int(v), its direction variable (v - int(v)) x ndir): the voxel's membership word
        and its target's emptiness word; each draw once."""
        cdef int j
        cdef long long i, end
        cdef double v
        cdef Py_ssize_t s, e
        j = self.lone_dense_set()
        if j < 0:
            return
        end = self.rpos + PF_AHEAD
        if end > self.rlen:
            end = self.rlen
        i = self.pf if self.pf > self.rpos else self.rpos
        while i < end:
            v = self.rbuf[i & (RBUF - 1)] * self.nsite
            s = self.candidate(v)
            __builtin_prefetch(&self.mob[j].bits[s >> 6])
            e = self.near_target(s, (v - s) * self.ndir)
            if e >= 0:
                __builtin_prefetch(&self.emp[e >> 6])
            i += 1
        self.pf = end

    cdef inline double draw(self) noexcept nogil:
        """The next uniform draw of the bit generator's stream. On large lattices
        (lookahead) a Metropolis trial waits on memory for its voxel's and target's lines
        (tens of MB of state, read at random); reading the stream ahead lets the trial
        before ask for them (prefetch_trial). The draws then come from rbuf, and advance
        rewinds the generator past the unread ones when it returns: the stream, and so
        every pick, is the same either way. Small lattices, in cache, skip the extra work."""
        if not self.lookahead:
            return self.rng.next_double(self.rng.state)
        if self.rpos == self.rlen:
            self.refill()
        self.rpos += 1
        return self.rbuf[(self.rpos - 1) & (RBUF - 1)]

    cdef void refill(self) noexcept nogil:
        """Fill the ring up from the generator (RBUF draws ahead of rpos)."""
        while self.rlen - self.rpos < RBUF:
            self.rbuf[self.rlen & (RBUF - 1)] = self.rng.next_double(self.rng.state)
            self.rlen += 1

    cdef void adatom_hop(self, Py_ssize_t s, double x, int na, Py_ssize_t* cols) noexcept nogil:
        """The adatom at s moves to column cols[int(x / k_adatom)] (clamped); x is the
        sub-choice's position past the hop part."""
        cdef int pick = <int> (x / self.k_adatom)
        cdef Py_ssize_t c, dst
        if pick >= na:
            pick = na - 1
        if pick < 0:
            pick = 0
        c = self.col_of(s)
        dst = self.zc * self.ncol + cols[pick]
        self.set_phase(s, ELECTROLYTE)
        self.set_height(c, self.zc)
        self.metal_removed(s)
        self.add_metal(dst)
        self.set_height(cols[pick], self.zc + 1)

    cdef void seed_swap(self, Py_ssize_t s, double u) noexcept nogil:
        """A seed voxel exchanges with one of its metal neighbours (solid solution: the seed
        dissolves into and moves through the metal). Both stay conductors: no connectivity
        change."""
        cdef Py_ssize_t nb[6]
        cdef int n = self.seed_swaps(s, nb), pick = <int> (u * n), d, k = 0
        if pick >= n:
            pick = n - 1
        for d in range(6):
            if nb[d] >= 0 and self.st[nb[d]] == METAL:
                if k == pick:
                    self.swap_with_metal(s, nb[d])
                    return
                k += 1

    cdef void drop_carried(self, Py_ssize_t src, Py_ssize_t dst) noexcept nogil:
        """A seed particle or an interphase voxel above a void is pressed down into it: both
        ride the electrolyte interface, so the separator carries them down."""
        cdef unsigned char p = self.st[src]
        self.ld[dst] = self.ld[src]
        self.ld[src] = 0
        self.set_phase(dst, p)
        self.set_phase(src, EMPTY)
        if self.bridge[p]:
            self.metal_removed(src)
            self.bridge_arrived(dst)

    cdef void do_creep(self, Py_ssize_t c, double u, bint soft) noexcept nogil:
        """One creep move into an EMPTY site of column c: the moves at the matrix rate, or
        (soft) those at the soft phase's rate, in the order creep_count counts them."""
        cdef int shift = SOFT_SHIFT if soft else 0
        cdef double target = u * self.ccol[(self.ncol if soft else 0) + c]
        cdef Py_ssize_t z, e = -1
        cdef Py_ssize_t nb[6]
        cdef int k, d, f, last = -1
        cdef int pick
        cdef bint settles
        for z in range(self.nz):
            k = (self.cc[z * self.ncol + c] >> shift) & COUNT_MASK
            if k == 0:
                continue
            last = z
            if target < k:
                e = z * self.ncol + c
                break
            target -= k
        if e < 0:
            e = last * self.ncol + c
            target = ((self.cc[e] >> shift) & COUNT_MASK) - 1
        pick = <int> target
        k = (self.cc[e] >> shift) & COUNT_MASK
        if pick >= k:
            pick = k - 1
        self.nbrs(e, nb)
        z = self.z_of(e)
        settles = nb[5] >= 0 and self.face_settles(nb[5])
        if (nb[5] >= 0 and DROPS[self.st[nb[5]]] and (self.st[nb[5]] == SOFT) == soft
                and (not settles or self.settle_allowed(c))):
            if pick == 0:
                if settles:
                    self.settle_face(c, e)
                elif self.st[nb[5]] == SEED or self.st[nb[5]] == INTERPHASE:
                    self.drop_carried(nb[5], e)
                else:
                    self.move_metal(nb[5], e, False)
                return
            pick -= 1
        if (z == self.h[c] - 1 and self.settle_allowed(c)
                and (nb[4] >= 0 and self.st[nb[4]] == SOFT) == soft):
            if pick == 0:
                self.set_phase(e, ELECTROLYTE)
                self.set_height(c, self.h[c] - 1)
                return
            pick -= 1
        for d in range(4):
            if nb[d] >= 0 and IS_MOBILE[self.st[nb[d]]] and (self.st[nb[d]] == SOFT) == soft:
                f = self.face_h(self.col_of(nb[d]))
                if z < f - 1 or (soft and z == f - 1):
                    if pick == 0:
                        self.move_metal(nb[d], e, False)
                        return
                    pick -= 1

    cdef inline double creep_rate(self, bint soft) noexcept nogil:
        """Creep move rate (1/s) of the matrix metal or the soft phase from the local contact
        pressure (MPa): the stack pressure P over the loaded contact fraction f_load, where a
        soft contact carries at most its yield strength and the hard contacts the rest; the
        soft phase feels at least its internal stress soft_stress (MPa), stack or not."""
        cdef long long loaded = self.ncol - self.top_count[EMPTY] - self.top_count[ELECTROLYTE]
        cdef long long n_soft = self.top_count[SOFT]
        cdef long long key = loaded * (self.ncol + 1) + n_soft
        cdef double f, k, sigma
        if not self.creep_on:
            return 0.0
        if self.cr_key[soft] == key:
            return self.cr_val[soft]
        f = (<double> (loaded if loaded > 0 else 1)) / self.ncol
        sigma = self.pressure / f
        if n_soft > 0 and sigma > self.soft_sigma_y:
            if loaded > n_soft:
                # soft contacts yield: they hold soft_sigma_y, the hard ones carry the rest
                if not soft:
                    sigma = ((self.pressure - self.soft_sigma_y * n_soft / self.ncol)
                             * self.ncol / (loaded - n_soft))
                else:
                    sigma = self.soft_sigma_y
        if soft:
            if sigma < self.soft_stress:
                sigma = self.soft_stress
            k = self.soft_eps_y * pow(sigma / self.soft_sigma_y,
                                      self.soft_creep_n) * self.ell_over_a
        else:
            k = self.eps_y * pow(sigma / self.sigma_y, self.creep_n) * self.ell_over_a
        self.cr_key[soft] = key
        self.cr_val[soft] = k if k < self.creep_cap else self.creep_cap
        return self.cr_val[soft]

    def exceeds_cutoff(self, double v_cutoff):
        """Whether |voltage()| exceeds v_cutoff (V), decided as advance() decides it after an
        event (without solving for eta when its cache is stale); for tests."""
        return self.over_cutoff(v_cutoff)

    def voltage(self):
        """Cell voltage (V) vs the metal counter electrode from the current contact state;
        negative while plating, positive while stripping, +-inf with no active contact."""
        if self.mode == REST:
            return 0.0
        return -self.overpotential() if self.mode == PLATE else self.overpotential()

    def advance(self, long long max_events, double t_stop, long long charge_target,
                double v_cutoff, long long echem_stop=-1):
        """Run events until one stop condition holds; returns the reason (see STOP_REASONS).

        max_events: events in this call; t_stop: simulated time (s) not to pass (the event
        that would pass it is not executed: the clock stops at t_stop); charge_target: stop
        once n_plated (PLATE) or n_stripped (STRIP) reaches it; v_cutoff (V): stop once
        |voltage| exceeds it (not in REST); echem_stop: stop once n_echem reaches it (the
        cadence of the potential solver; -1 = never)."""
        cdef long long done = 0
        cdef double r_th, r_tt, r_ml, r_cr, r_cs, r_se, r_ec, r_tot, u, dt, x, k_cr
        cdef Py_ssize_t i
        cdef int reason = STOP_EVENTS, k
        cdef bint thinned = False
        if self.mode != REST:
            if self.charge_reached(charge_target):
                return STOP_CHARGE
            if self.overpotential() > v_cutoff:
                return STOP_VOLTAGE
        with nogil:
            while done < max_events:
                if not thinned:     # (a thinned trial changed nothing: the same rates)
                    r_tt = tree_total(&self.tth)
                    r_ml = self.trial_bound()
                    r_th = r_tt + r_ml
                    k_cr = self.creep_rate(False)
                    r_cr = k_cr * tree_total(&self.tcr)
                    r_cs = tree_total(&self.tcs) if self.has_soft else 0.0
                    if r_cs > 0.0:
                        r_cs = self.creep_rate(True) * r_cs
                    r_se = tree_total(&self.tse) if self.sei_k > 0.0 else 0.0
                    r_ec = self.echem_rate if (self.mode != REST and self.active_weight() > 0.0) else 0.0
                    r_tot = r_th + r_cr + r_cs + r_se + r_ec
                    if r_tot <= 0.0:
                        reason = STOP_NO_EVENTS
                        break
                thinned = False
                u = self.draw()
                dt = -log(1.0 - u) / r_tot
                if self.t + dt > t_stop:
                    self.t = t_stop
                    reason = STOP_TIME
                    break
                self.t += dt
                x = self.draw() * r_tot
                if r_ec > 0.0 and (x < r_ec or (r_cr == 0.0 and r_cs == 0.0 and r_se == 0.0
                                                and r_th == 0.0)):
                    k = self.pick_class(self.draw())
                    i = tree_find(&self.tcl[k], self.draw() * tree_total(&self.tcl[k]))
                    if self.mode == PLATE:
                        if self.do_plate(i) < 0:
                            reason = STOP_OVERFLOW
                            break
                    else:
                        self.do_strip(i, k)
                    self.n_echem += 1
                    if self.n_echem == echem_stop:
                        self.n_events += 1
                        done += 1
                        reason = STOP_ECHEM
                        break
                elif r_cr > 0.0 and (x < r_ec + r_cr or (r_cs == 0.0 and r_se == 0.0
                                                          and r_th == 0.0)):
                    i = tree_find(&self.tcr, self.draw() * tree_total(&self.tcr))
                    self.do_creep(i, self.draw(), False)
                    self.n_creep += 1
                elif r_cs > 0.0 and (x < r_ec + r_cr + r_cs or (r_se == 0.0 and r_th == 0.0)):
                    i = tree_find(&self.tcs, self.draw() * tree_total(&self.tcs))
                    self.do_creep(i, self.draw(), True)
                    self.n_creep += 1
                elif r_se > 0.0 and (x < r_ec + r_cr + r_cs + r_se or r_th == 0.0):
                    i = tree_find(&self.tse, self.draw() * r_se)
                    self.do_sei(i)
                    self.n_sei += 1
                elif r_ml > 0.0 and (x >= r_ec + r_cr + r_cs + r_se + r_tt or r_tt == 0.0):
                    if not self.metropolis_trial():
                        self.n_null += 1
                        thinned = True
                        continue
                    self.n_thermal += 1
                else:
                    i = tree_find_near(&self.tth, self.draw() * r_tt,
                                       self.st, self.nbc, self.near_rows, 5)
                    self.do_thermal(i, self.draw())
                    self.n_thermal += 1
                self.n_events += 1
                done += 1
                if self.mode != REST:
                    if self.charge_reached(charge_target):
                        reason = STOP_CHARGE
                        break
                    if self.over_cutoff(v_cutoff):
                        reason = STOP_VOLTAGE
                        break
        if self.rlen > self.rpos:
            # the generator's state is that of the draws used: rewind past the unread ones
            self.bitgen.advance(self.rpos - self.rlen)
        self.rpos = self.rlen = self.pf = 0
        self.memo.version = self.memo2.version = -1
        return reason

    cdef inline bint charge_reached(self, long long target) noexcept nogil:
        if self.mode == PLATE:
            return self.n_plated >= target
        if self.mode == STRIP:
            return self.n_stripped >= target
        return False

    cdef inline double class_weight(self, int k) noexcept nogil:
        """Summed local factors of class k times its relative exchange current."""
        cdef double w = tree_total(&self.tcl[k])
        return w if self.gain[k] == 1.0 else w * self.gain[k]

    cdef inline double active_weight(self) noexcept nogil:
        cdef int k
        cdef double w = 0.0
        for k in range(1, NCLASS):
            w += tree_total(&self.tcl[k])
        return w

    cdef inline double bv(self, double x) noexcept nogil:
        """Butler-Volmer current (units of j0) at overpotential x (V) past a class's onset;
        a class below its onset passes nothing."""
        if x <= 0.0:
            return 0.0
        return exp(self.alpha * self.f_rt * x) - exp(-(1.0 - self.alpha) * self.f_rt * x)

    cdef inline double bv_slope(self, double x) noexcept nogil:
        if x <= 0.0:
            return 0.0
        return self.f_rt * (self.alpha * exp(self.alpha * self.f_rt * x)
                            + (1.0 - self.alpha) * exp(-(1.0 - self.alpha) * self.f_rt * x))

    cdef double eta_solve(self) noexcept nogil:
        """Electrode overpotential eta (V) at which the classes together pass the applied
        current: sum_k W_k bv(eta - onset_k) = (j / j0) ncol, W_k = summed local factors of
        class k. Safeguarded Newton on a bracket; cached until a class total changes."""
        cdef double W[NCLASS]
        cdef double target = self.j_over_j0 * self.ncol, lo = INFINITY, hi, eta, f, df, step
        cdef int k, it, n, k1 = 0
        if not self.eta_dirty:
            return self.eta_cache
        self.eta_dirty = False
        lo = self.class_weights_into(W)
        if lo == INFINITY:
            self.eta_cache = INFINITY
            return INFINITY
        if self.alpha == 0.5:
            # one populated class with symmetric kinetics: W 2 sinh(F x / 2RT) = target
            n = 0
            for k in range(1, NCLASS):
                if W[k] > 0.0:
                    n += 1
                    k1 = k
            if n == 1:
                self.eta_cache = lo + 2.0 / self.f_rt * asinh(target / (2.0 * W[k1]))
                return self.eta_cache
        step = 0.05
        hi = lo + step
        while self.class_current(W, hi) < target:
            lo = hi
            step *= 2.0
            hi = lo + step
        eta = 0.5 * (lo + hi)
        for it in range(200):
            f = self.class_current(W, eta) - target
            # converged: stop at this eta (checking after the step below returned the
            # bisection midpoint whenever the last Newton correction rounded to nothing)
            if fabs(f) < 1e-12 * target:
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
        self.eta_cache = eta
        return eta

    cdef inline double class_current(self, double* W, double eta) noexcept nogil:
        cdef int k
        cdef double s = 0.0
        for k in range(1, NCLASS):
            if W[k] > 0.0:
                s += W[k] * self.bv(eta - self.onset[k])
        return s

    cdef int pick_class(self, double u) noexcept nogil:
        """Echem class of the next event, with probability W_k bv(eta - onset_k) / total."""
        cdef double w[NCLASS]
        cdef double tot = 0.0, eta, x
        cdef int k, last = C_METAL, n = 0
        for k in range(1, NCLASS):
            w[k] = self.class_weight(k)
            if w[k] > 0.0:
                n += 1
                last = k
        if n == 1:
            return last
        eta = self.eta_solve()
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

    cdef double class_weights_into(self, double* W) noexcept nogil:
        """Fill W[1:NCLASS] with the class weights; returns the lowest onset (V) among the
        populated classes (inf when none is)."""
        cdef double lo = INFINITY
        cdef int k
        for k in range(1, NCLASS):
            W[k] = self.class_weight(k)
            if W[k] > 0.0 and self.onset[k] < lo:
                lo = self.onset[k]
        return lo

    cdef inline double active_fraction(self) noexcept nogil:
        """Fraction of the columns in an active electrochemical class."""
        cdef long long n_act = 0
        cdef int k
        for k in range(1, NCLASS):
            n_act += self.n_class[k]
        return (<double> n_act) / self.ncol

    cdef bint over_cutoff(self, double v_cutoff) noexcept nogil:
        """overpotential() > v_cutoff, without solving for eta when its cache is stale: the
        classes' current is increasing in eta, so eta exceeds eta_max = v_cutoff - ohmic -
        constriction exactly when the current at eta_max falls short of the applied one."""
        cdef double W[NCLASS]
        cdef double eta_max, f, lo
        if not self.eta_dirty:
            return self.overpotential() > v_cutoff
        lo = self.class_weights_into(W)
        if lo == INFINITY:
            return INFINITY > v_cutoff         # no active class: overpotential() is inf
        f = self.active_fraction()
        eta_max = v_cutoff - self.v_ohm - self.v_con * (1.0 / f - 1.0)
        if eta_max <= lo:
            return True
        return self.class_current(W, eta_max) < self.j_over_j0 * self.ncol

    cdef double overpotential(self) noexcept nogil:
        """|V| (V): the electrode overpotential (Butler-Volmer over the active classes; the
        bare-collector class needs its nucleation onset first), plus ohmic and constriction
        (1/f - 1) terms at the active contact fraction f."""
        cdef double eta = self.eta_solve(), f
        if eta == INFINITY:
            return INFINITY
        f = self.active_fraction()
        return eta + self.v_ohm + self.v_con * (1.0 / f - 1.0)

    # ------------------------------------------------------------------ control from Python
    def set_mode(self, str mode):
        """Switch to 'rest', 'plate' or 'strip' and reclassify every column (O(ncol))."""
        self.mode = MODES[mode]
        self.reclassify()

    cdef void reclassify(self):
        cdef Py_ssize_t c
        cdef int k, k2
        for k in range(NCLASS):
            self.n_class[k] = 0
        for c in range(self.ncol):
            k = self.echem_class(c)
            self.cls[c] = k
            self.n_class[k] += 1
            for k2 in range(NCLASS):
                self.tcl[k2].a[c] = self.lf[c] if (k2 == k and k != C_NONE) else 0.0
        for k in range(NCLASS):
            tree_rebuild(&self.tcl[k])
        for c in range(self.ncol):
            self.tse.a[c] = self.sei_rate(c)
        tree_rebuild(&self.tse)
        self.eta_dirty = True

    def set_local_factors(self, factors):
        """Local current factors per column (from the electrolyte potential solver; 1 =
        the current of a uniform potential), then reclassify (O(ncol))."""
        np.copyto(self.lf_arr, np.asarray(factors, dtype=np.float64).reshape(-1))
        self.reclassify()

    def rebuild(self):
        """Recompute connectivity, every rate, count and tree from the lattice (O(N))."""
        cdef Py_ssize_t s, c
        cdef Py_ssize_t nb[6]
        cdef int p, ne, ns, k
        if self.track_connectivity:
            self.relabel_connectivity()
        for c in range(self.ncol):
            self.wmx[c] = self.window_scan(c)
        self.n_metal = 0
        self.n_dead = 0
        self.n_in_seed = 0
        self.has_bridges = self.sei_k > 0.0 and self.stacked[INTERPHASE]
        self.has_soft = False
        self.face_seeds = False
        self.n_interphase = 0
        for p in range(NPHASE):
            self.top_count[p] = 0
        for s in range(self.nsite):
            if self.st[s] == METAL:
                self.n_metal += 1
            elif self.st[s] == DEAD:
                self.n_dead += 1
            elif self.st[s] == SEED:
                self.has_bridges = True
                self.n_in_seed += self.ld[s] & LOAD_MASK
                if self.ld[s] & RIDE_BIT:
                    self.face_seeds = True
            elif self.st[s] == SOFT:
                self.has_bridges = True
                self.has_soft = True
            elif self.st[s] == INTERPHASE:
                self.n_interphase += 1
                if self.stacked[INTERPHASE]:
                    self.has_bridges = True
            if self.st[s] != SEED:
                self.ld[s] = 0
        # without stack pressure only soft domains under their internal stress creep
        self.creep_on = (self.eps_y > 0.0 and not self.periodic_z and (
            self.pressure > 0.0 or (self.soft_stress > 0.0 and self.has_soft)))
        self.tth_arr[:] = 0.0
        self.tcr_arr[:] = 0.0
        self.tcs_arr[:] = 0.0
        for s in range(self.nsite):
            self.nbrs(s, nb)
            self.count_neighbours(nb, &ne, &ns)
            self.nbc[s] = ne + 8 * ns
        self.ccol_arr[:] = 0
        for s in range(self.nsite):
            self.tth.a[s] = self.thermal_rate(s)
            self.cc[s] = self.creep_count(s)
            self.ccol[self.col_of(s)] += self.cc[s] & COUNT_MASK
            self.ccol[self.ncol + self.col_of(s)] += self.cc[s] >> SOFT_SHIFT
        for c in range(self.ncol):
            self.film[c] = self.film_of(c)
            self.tcr.a[c] = self.ccol[c] * self.film[c]
            self.tcs.a[c] = self.ccol[self.ncol + c] * self.film[c]
        tree_rebuild(&self.tth)
        tree_rebuild(&self.tcr)
        self.cs_version += 1
        for k in range(2):
            self.mob_arr[k][0][:] = 0
            self.mob_arr[k][1][:] = 0
            self.mob[k].n = 0
        self.emp_arr[:] = 0
        if self.metropolis:
            for s in range(self.nsite):
                self.mobile_changed(s, EMPTY, self.st[s])
                if self.st[s] == EMPTY:
                    self.emp[s >> 6] |= 1ULL << (s & 63)
        tree_rebuild(&self.tcs)
        for c in range(self.ncol):
            self.top_count[self.top_phase(c)] += 1
        self.reclassify()

    cdef void relabel_connectivity(self):
        """Full flood fill from the collector: metal reached is METAL, the rest DEAD."""
        cdef Py_ssize_t s, v
        cdef Py_ssize_t nb[6]
        cdef int d
        cdef IntBuf* q = &self.stack[0]
        q.n = 0
        memset(self.vmark, 0, self.nsite * sizeof(int))
        self.stamp = 1
        for s in range(self.nsite):
            if self.st[s] == METAL:
                self.st[s] = DEAD
        for s in range(self.nsite):
            if self.st[s] == COLLECTOR:
                buf_push(q, s)
        while q.n > 0:
            q.n -= 1
            v = q.data[q.n]
            self.nbrs(v, nb)
            for d in range(6):
                if nb[d] < 0:
                    continue
                if self.st[nb[d]] == DEAD:
                    self.st[nb[d]] = METAL
                    buf_push(q, nb[d])
                elif self.bridge[self.st[nb[d]]] and self.vmark[nb[d]] != 1:
                    # bridges conduct: the search passes through them
                    self.vmark[nb[d]] = 1
                    buf_push(q, nb[d])

    def load_lattice(self, state, h, load=None, local_factors=None, floor=None, base=None):
        """Set the lattice (uint8 phases, length nsite), separator heights, seed load bytes
        (uint8 per site; zero if None), local current factors (per column; 1 if None) and
        the separator's floor (lowest height it may settle to, per column; 0 if None), then
        rebuild."""
        np.copyto(self.state_arr, np.asarray(state, dtype=np.uint8).reshape(-1))
        np.copyto(self.h_arr, np.asarray(h, dtype=np.intc).reshape(-1))
        self.floor_arr[:] = 0 if floor is None else np.asarray(floor, dtype=np.intc).reshape(-1)
        self.base_arr[:] = self.zc if base is None else np.asarray(base, dtype=np.intc).reshape(-1)
        self.load_arr[:] = 0 if load is None else np.asarray(load, dtype=np.uint8).reshape(-1)
        self.lf_arr[:] = 1.0 if local_factors is None else np.asarray(
            local_factors, dtype=np.float64).reshape(-1)
        self.rebuild()

    def rates_snapshot(self):
        """Copies of the leaf rates of all three channels (tests compare these with a rebuild)."""
        return (self.tth_arr[:self.nsite].copy(),
                self.ccount_arr.copy(),
                np.array([self.tcl_arr[k][:self.ncol] for k in range(NCLASS)]),
                [self.top_count[p] for p in range(NPHASE)],
                self.cls_arr.copy(), [self.n_class[k] for k in range(NCLASS)])

    @property
    def totals(self):
        """(thermal rate 1/s, creep move count, echem weight, creep rate per move 1/s); the
        thermal rate includes the Metropolis rule's trial bound."""
        return (tree_total(&self.tth) + self.trial_bound(), tree_total(&self.tcr),
                self.active_weight(), self.creep_rate(False))

    cdef inline double trial_bound(self) noexcept nogil:
        """Total rate (1/s) of the Metropolis rule's hop trials (0 under bond counting)."""
        if not self.metropolis:
            return 0.0
        return self.ndir * (self.mob[0].n * self.mpref[0] + self.mob[1].n * self.mpref[1])

    def class_weights(self):
        """Summed local factors of each echem class (index = class code)."""
        return [tree_total(&self.tcl[k]) for k in range(NCLASS)]

    def class_counts(self):
        """Columns in each echem class (index = class code)."""
        return [self.n_class[k] for k in range(NCLASS)]

    def electrode_overpotential(self):
        """The Butler-Volmer electrode overpotential eta (V) of the current state (inf when
        nothing can react)."""
        return self.eta_solve()

    def top_counts(self):
        """Number of columns whose top site is in each phase (index = phase code)."""
        return [self.top_count[p] for p in range(NPHASE)]

    def get_counters(self):
        return {"t": self.t, "n_events": self.n_events, "n_plated": self.n_plated,
                "n_stripped": self.n_stripped, "n_thermal": self.n_thermal,
                "n_consumed": self.n_consumed,
                "n_creep": self.n_creep, "n_echem": self.n_echem, "n_sei": self.n_sei,
                "n_connectivity_searches": self.n_connectivity_searches,
                "n_null": self.n_null, "mode": self.mode}

    def set_counters(self, dict c):
        self.t = c["t"]
        self.n_events = c["n_events"]
        self.n_plated = c["n_plated"]
        self.n_stripped = c["n_stripped"]
        self.n_thermal = c["n_thermal"]
        self.n_creep = c["n_creep"]
        self.n_echem = c["n_echem"]
        self.n_sei = c.get("n_sei", 0)
        self.n_consumed = c.get("n_consumed", 0)
        self.n_null = c.get("n_null", 0)
        self.n_connectivity_searches = c["n_connectivity_searches"]

    def memory_bytes(self):
        """Bytes held by the lattice and event structures (not snapshots or Python objects)."""
        return (self.state_arr.nbytes + self.h_arr.nbytes + self.floor_arr.nbytes
                + self.wmax_arr.nbytes
                + self.ccount_arr.nbytes
                + self.nbc_arr.nbytes + self.vmark_arr.nbytes + self.load_arr.nbytes
                + self.tth_arr.nbytes + self.tcr_arr.nbytes + self.tcs_arr.nbytes
                + self.tse_arr.nbytes
                + self.lf_arr.nbytes
                + self.cls_arr.nbytes + sum(a.nbytes for a in self.tcl_arr)
                + sum(a.nbytes + b.nbytes for a, b in self.mob_arr))
