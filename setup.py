"""Build script: the ``kmc`` package plus every ``ext/*.pyx`` as the extension ``kmc._<stem>``."""
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent

extensions = [
    Extension(
        f"kmc._{pyx.stem}",
        sources=[f"ext/{pyx.name}"],
        include_dirs=[numpy.get_include(), "ext"],
        extra_compile_args=["-O3"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for pyx in sorted((HERE / "ext").glob("*.pyx"))
]

setup(
    name="kmc",
    version="0.1.0",
    description="Lattice kinetic Monte Carlo of metal plating and stripping",
    packages=["kmc"],
    package_data={"kmc": ["materials/*.toml"]},
    ext_modules=cythonize(
        extensions,
        include_path=["ext"],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
    install_requires=["numpy", "mpi4py", "mpich", "matplotlib", "tqdm", "scipy"],
    entry_points={"console_scripts": ["kmc = kmc.cli:main"]},
    python_requires=">=3.10",
    zip_safe=False,
)
