# Eight-way sum tree over `n` non-negative weights: O(log8 n) update and selection, one cache
# line of children per level. Level 0 holds the leaves; node j of level l is the sum of nodes
# 8j .. 8j+7 of level l-1 (zero padded), summed as ((c0+c1)+(c2+c3))+((c4+c5)+(c6+c7)).
# Parents are recomputed from their children, never updated by deltas, so every stored sum
# depends only on the current leaves: no drift, and the pure-Python oracle rebuilds
# bit-identical sums. tree_set_lazy writes a leaf and defers its ancestors to tree_flush,
# which recomputes the ancestors of a batch level by level (the leaves an event changes
# share most of their ancestors); tree_total and tree_find flush first, so readers never see
# a stale sum.

cdef extern from *:
    void __builtin_prefetch(const void* addr) nogil


cdef enum:
    DIRTY = 64                # pending leaves before tree_set_lazy flushes by itself


cdef struct SumTree:
    double* a                 # all levels, 64-byte aligned; leaves at a[0:n]
    Py_ssize_t n
    int nlev                  # levels including leaves (0) and the single root (nlev - 1)
    Py_ssize_t off[24]        # start of each level in a
    Py_ssize_t size[24]       # nodes in each level (before padding to a multiple of 8)
    int ndirty                # leaves written by tree_set_lazy whose ancestors are pending
    Py_ssize_t dirty[DIRTY]


cdef inline double sum8(double* c) noexcept nogil:
    return ((c[0] + c[1]) + (c[2] + c[3])) + ((c[4] + c[5]) + (c[6] + c[7]))


cdef inline Py_ssize_t tree_layout(SumTree* t, Py_ssize_t n) noexcept nogil:
    """Fill the level offsets for n leaves; returns the number of doubles needed."""
    cdef Py_ssize_t size = n, off = 0
    cdef int l = 0
    t.n = n
    t.ndirty = 0
    while True:
        t.off[l] = off
        t.size[l] = size
        off += ((size + 7) // 8) * 8
        l += 1
        if size == 1 and l > 1:
            break
        size = (size + 7) // 8
    t.nlev = l
    return off


cdef inline void tree_flush(SumTree* t) noexcept nogil:
    """Recompute the ancestors of the pending leaves, level by level; a node whose sum is
    unchanged drops out (its ancestors are unchanged too). Only repeats next to each other
    are merged: a node listed twice is recomputed twice, and the second time, unchanged,
    drops out, which costs less than searching the list for every parent."""
    cdef Py_ssize_t* idx = t.dirty
    cdef Py_ssize_t p, node
    cdef int k = t.ndirty, m, j, l
    cdef double s
    cdef double* a = t.a
    t.ndirty = 0
    for l in range(1, t.nlev):
        if k == 0:
            return
        m = 0
        for j in range(k):
            p = idx[j] >> 3
            if m == 0 or idx[m - 1] != p:
                idx[m] = p
                m += 1
                __builtin_prefetch(a + t.off[l] + p)     # its slot, far from its children
        k = 0
        for j in range(m):
            node = idx[j]
            s = sum8(a + t.off[l - 1] + 8 * node)
            if a[t.off[l] + node] != s:
                a[t.off[l] + node] = s
                idx[k] = node
                k += 1


cdef inline void tree_set_lazy(SumTree* t, Py_ssize_t i, double w) noexcept nogil:
    """Leaf i = w; its ancestors wait for tree_flush."""
    if t.a[i] == w:
        return
    if t.ndirty == DIRTY:
        tree_flush(t)
    t.a[i] = w
    t.dirty[t.ndirty] = i
    t.ndirty += 1


cdef inline double tree_total(SumTree* t) noexcept nogil:
    if t.ndirty:
        tree_flush(t)
    return t.a[t.off[t.nlev - 1]]


cdef inline void tree_set(SumTree* t, Py_ssize_t i, double w) noexcept nogil:
    cdef double* a = t.a
    cdef double s
    cdef int l
    if a[i] == w:
        return
    a[i] = w
    for l in range(1, t.nlev):
        i >>= 3
        s = sum8(a + t.off[l - 1] + 8 * i)
        if a[t.off[l] + i] == s:
            return                  # this sum, and so every ancestor, is unchanged
        a[t.off[l] + i] = s


cdef inline Py_ssize_t tree_find(SumTree* t, double target) noexcept nogil:
    return tree_find_near(t, target, NULL, NULL, NULL, 0)


cdef inline Py_ssize_t tree_find_near(SumTree* t, double target, const unsigned char* near1,
                                      const unsigned char* near2, const Py_ssize_t* offs,
                                      int noffs) noexcept nogil:
    """Leaf whose cumulative interval holds target in [0, total). Zero-weight children are
    never entered; if rounding leaves no child, the last non-zero child is taken. Before
    the last step, which picks one of 8 leaves j .. j + 7, the lines near1 + j + offs[k],
    near2 + j + offs[k], the leaves j + offs[k] and their two levels of ancestors are
    requested (what the caller reads and refreshes next around the pick; a prefetch never
    faults, also past either end)."""
    cdef Py_ssize_t j = 0
    cdef int l, k, pick, last
    cdef double* c
    if t.ndirty:
        tree_flush(t)
    for l in range(t.nlev - 1, 0, -1):
        c = t.a + t.off[l - 1] + 8 * j
        if l == 1 and noffs:
            for k in range(noffs):
                __builtin_prefetch(near1 + 8 * j + offs[k])
                __builtin_prefetch(near2 + 8 * j + offs[k])
                __builtin_prefetch(t.a + 8 * j + offs[k])
                if 8 * j + offs[k] >= 0 and t.nlev > 3:
                    # and their parents and grandparents (the flush after the event)
                    __builtin_prefetch(t.a + t.off[1] + ((8 * j + offs[k]) >> 3))
                    __builtin_prefetch(t.a + t.off[2] + ((8 * j + offs[k]) >> 6))
        if 2 <= l <= 4:
            # the next step reads one of these 8 lines (the children's children): ask for
            # all of them while this line is scanned, so the two misses overlap
            for k in range(8):
                __builtin_prefetch(t.a + t.off[l - 2] + 64 * j + 8 * k)
        pick = -1
        last = 0
        for k in range(8):
            if c[k] > 0.0:
                last = k
                if target < c[k]:
                    pick = k
                    break
                target -= c[k]
        if pick < 0:
            pick = last
        j = 8 * j + pick
    return j


cdef inline void tree_rebuild(SumTree* t) noexcept nogil:
    cdef int l
    cdef Py_ssize_t j
    t.ndirty = 0
    for l in range(1, t.nlev):
        for j in range(t.size[l]):
            t.a[t.off[l] + j] = sum8(t.a + t.off[l - 1] + 8 * j)
