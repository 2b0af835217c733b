# Eight-way sum tree over `n` non-negative weights: O(log8 n) update and selection, one cache
# line of children per level. Level 0 holds the leaves; node j of level l is the sum of nodes
# 8j .. 8j+7 of level l-1 (zero padded), summed as ((c0+c1)+(c2+c3))+((c4+c5)+(c6+c7)).
# Parents are recomputed from their children, never updated by deltas, so every stored sum
# depends only on the current leaves: no drift, and the pure-Python oracle rebuilds
# bit-identical sums.

cdef struct SumTree:
    double* a                 # all levels, 64-byte aligned; leaves at a[0:n]
    Py_ssize_t n
    int nlev                  # levels including leaves (0) and the single root (nlev - 1)
    Py_ssize_t off[24]        # start of each level in a
    Py_ssize_t size[24]       # nodes in each level (before padding to a multiple of 8)


cdef inline double sum8(double* c) noexcept nogil:
    return ((c[0] + c[1]) + (c[2] + c[3])) + ((c[4] + c[5]) + (c[6] + c[7]))


cdef inline Py_ssize_t tree_layout(SumTree* t, Py_ssize_t n) noexcept nogil:
    """Fill the level offsets for n leaves; returns the number of doubles needed."""
    cdef Py_ssize_t size = n, off = 0
    cdef int l = 0
    t.n = n
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


cdef inline double tree_total(SumTree* t) noexcept nogil:
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
    """Leaf whose cumulative interval holds target in [0, total). Zero-weight children are
    never entered; if rounding leaves no child, the last non-zero child is taken."""
    cdef Py_ssize_t j = 0
    cdef int l, k, pick, last
    cdef double* c
    for l in range(t.nlev - 1, 0, -1):
        c = t.a + t.off[l - 1] + 8 * j
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
    for l in range(1, t.nlev):
        for j in range(t.size[l]):
            t.a[t.off[l] + j] = sum8(t.a + t.off[l - 1] + 8 * j)
