"""Lattice kinetic Monte Carlo simulator of metal plating and stripping at a current collector.

A voxel lattice holds metal, void and electrolyte; plating, stripping, surface diffusion,
nucleation on the bare collector and creep under stack pressure are rejection-free KMC
events driven by a galvanostatic protocol. Runs are configured by TOML files (see
``docs/config.md``) and driven by the ``kmc`` command line (``kmc run``, ``kmc resume``,
``kmc validate``, ``kmc bench``); the event engine is a compiled extension (``kmc._engine``).
"""
__version__ = "0.1.0"
