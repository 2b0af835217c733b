# A set of sites as a bitmap (64 sites per word) under an eight-way tree of member counts:
# O(log8 n) insert, remove and select (the k-th member in site order: a uniform pick among
# the members from one uniform draw). Every count is a function of the members alone, so a
# rebuild from the lattice gives the same picks (no history-dependent list order), and the
# pure-Python oracle picks the same member by sorting. Level 0 holds one count per word;
# node j of level l counts the members of nodes 8j .. 8j+7 of level l-1 (zero padded). The
# whole structure is ~0.2 bytes per site: cache-resident where the lattice is not.

cdef enum:
    CS_LEVELS = 16


cdef extern from *:
    """
    /* [byte * 8 + k]: position of the k-th set bit of byte (filled once per process) */
    static unsigned char kmc_byte_select[256 * 8];
    static void kmc_cset_tables(void) {
        int b, k, pos;
        for (b = 0; b < 256; b++)
            for (pos = 0, k = 0; pos < 8; pos++)
                if (b >> pos & 1)
                    kmc_byte_select[b * 8 + k++] = (unsigned char) pos;
    }
    """
    unsigned char BYTE_SELECT "kmc_byte_select"[256 * 8]
    void cset_tables "kmc_cset_tables"() nogil


cdef struct CountSet:
    unsigned long long* bits  # membership bit per site
    unsigned int* cnt         # all count levels; level 0 (one count per word) first
    int nlev                  # count levels, the single root (nlev - 1) included
    Py_ssize_t off[CS_LEVELS] # start of each level in cnt
    long long n               # members


cdef inline void cset_layout(CountSet* c, Py_ssize_t nsite, Py_ssize_t* n_words,
                             Py_ssize_t* n_counts) noexcept nogil:
    """Fill the level offsets for nsite sites; returns the words and counts to allocate
    (words and each level padded to a multiple of 8)."""
    cdef Py_ssize_t size = (nsite + 63) // 64, off = 0
    cdef int l = 0
    c.n = 0
    n_words[0] = ((size + 7) // 8) * 8
    while True:
        c.off[l] = off
        off += ((size + 7) // 8) * 8
        l += 1
        if size == 1:
            break
        size = (size + 7) // 8
    c.nlev = l
    n_counts[0] = off


cdef inline void cset_flip(CountSet* c, Py_ssize_t i, int delta) noexcept nogil:
    """Add (delta = 1) or remove (delta = -1) site i; the caller knows it was out / in."""
    cdef Py_ssize_t g = i >> 6
    cdef int l
    c.bits[g] ^= (<unsigned long long> 1) << (i & 63)
    for l in range(c.nlev):
        c.cnt[c.off[l] + g] += delta
        g >>= 3
    c.n += delta


cdef inline int select_bit(unsigned long long w, unsigned int k) noexcept nogil:
    """Position of the k-th (from 0) set bit of w, which has more than k set bits. Branch
    free: the byte counts' running sums (one multiply) tell the byte, a table the bit."""
    cdef unsigned long long x = w - ((w >> 1) & 0x5555555555555555ULL)
    cdef unsigned int below = 0, byte = 0, c
    cdef int i
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL)
    x = ((x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL) * 0x0101010101010101ULL
    for i in range(7):
        c = <unsigned int> (x >> (8 * i)) & 0xff     # members in bytes 0 .. i
        if c <= k:
            byte = i + 1
            below = c
    return 8 * byte + BYTE_SELECT[((w >> (8 * byte)) & 0xff) * 8 + k - below]


cdef inline Py_ssize_t cset_select(CountSet* c, long long k) noexcept nogil:
    """The k-th member (0 <= k < n) in site order. Each step sums its 8 children without
    branching on the data: the exit of a scan would be mispredicted at every step."""
    cdef Py_ssize_t j = 0
    cdef unsigned int* lev
    cdef unsigned int acc, below, kk
    cdef int l, m, idx
    for l in range(c.nlev - 1, 0, -1):
        lev = c.cnt + c.off[l - 1] + 8 * j
        kk = <unsigned int> k
        acc = 0
        below = 0
        idx = 0
        for m in range(7):
            acc += lev[m]
            if acc <= kk:
                idx = m + 1
                below = acc
        j = 8 * j + idx
        k -= below
    return 64 * j + select_bit(c.bits[j], <unsigned int> k)
