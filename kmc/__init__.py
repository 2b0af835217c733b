"""Lattice kinetic Monte Carlo simulator of metal plating and stripping at a current collector.

A voxel lattice holds metal, void and electrolyte; plating, stripping, surface diffusion,
nucleation on the bare collector and creep under stack pressure are rejection-free KMC
events driven by a galvanostatic protocol. Runs are configured by TOML files (see
``docs/config.md``) and driven by the ``kmc`` command line (``kmc run``, ``kmc resume``,
``kmc validate``, ``kmc bench``); the event engine is a compiled extension (``kmc._engine``).
"""
import os

# The engine is single-threaded and ensembles run one process per core: BLAS threads would
# only spin on the cores the other ranks need. Set before numpy is first imported (a caller
# that imported numpy already keeps its own setting).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
