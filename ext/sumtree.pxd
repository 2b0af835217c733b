# Binary sum tree over `n` non-negative weights: O(log n) update and selection.
# Layout: node 1 is the root, leaves live at [m, m + n) with m the next power of two >= n.
# Parents are always recomputed as left + right (never by adding deltas), so the stored sums
# depend only on the current leaves: no floating-point drift, and the pure-Python oracle can
# rebuild bit-identical sums.

cdef inline void tree_set(double* t, Py_ssize_t m, Py_ssize_t i, double w) noexcept nogil:
    cdef Py_ssize_t k = m + i
    if t[k] == w:
        return
    t[k] = w
    k >>= 1
    while k >= 1:
        t[k] = t[2 * k] + t[2 * k + 1]
        k >>= 1


cdef inline Py_ssize_t tree_find(double* t, Py_ssize_t m, double target) noexcept nogil:
    """Leaf index whose cumulative interval holds `target` in [0, total).

    Never returns a zero-weight leaf while the total is positive: a branch with zero sum is
    never entered, which also absorbs rounding at interval edges.
    """
    cdef Py_ssize_t k = 1
    cdef double left, right
    while k < m:
        left = t[2 * k]
        right = t[2 * k + 1]
        if left == 0.0:
            k = 2 * k + 1
        elif right == 0.0 or target < left:
            k = 2 * k
        else:
            target -= left
            k = 2 * k + 1
    return k - m


cdef inline void tree_rebuild(double* t, Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t k = m - 1
    while k >= 1:
        t[k] = t[2 * k] + t[2 * k + 1]
        k -= 1
