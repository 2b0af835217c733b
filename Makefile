# Build, test and demo targets. Everything runs inside a local virtual environment (.venv).
PY      := .venv/bin/python
KMC     := .venv/bin/kmc
DEPS    := .venv/.deps-stamp
BUILT   := .venv/.build-stamp
SOURCES := $(wildcard ext/*.pyx ext/*.pxd ext/*.h) setup.py pyproject.toml $(wildcard kmc/*.py)

MPIEXEC := .venv/bin/mpiexec
DEMO_RANKS ?= 2

.PHONY: all venv build demo demo-ensemble test bench docs clean distclean

all: build

venv: $(DEPS)

$(DEPS): requirements.txt
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q "pip>=23" "setuptools>=70.1" wheel
	$(PY) -m pip install -q -r requirements.txt
	touch $@

build: $(BUILT)

$(BUILT): $(DEPS) $(SOURCES)
	$(PY) -m pip install --no-build-isolation -e . -q
	touch $@

# Both demos are recomputed every time (--force), so they always show the current engine.
# The ensemble (runs/sweeps/demo.toml, 12 replicas on DEMO_RANKS MPI ranks) ends with
# results/demo/{aggregate,summary}.csv and results/demo/figures/. To see resume, interrupt it
# and run the mpiexec line again without --force.
demo: build
	$(KMC) run runs/quickstart.toml -o results/quickstart --force
	$(PY) analysis/plot_run.py results/quickstart
	$(MAKE) --no-print-directory demo-ensemble

demo-ensemble: build
	$(MPIEXEC) -n $(DEMO_RANKS) $(PY) -m mpi4py -m kmc ensemble runs/sweeps/demo.toml \
		-o results/demo --force
	$(KMC) aggregate results/demo --figures

test: build
	$(PY) -m pytest -q tests

bench: build
	mkdir -p results
	$(KMC) bench --json results/bench.json

docs: $(DEPS)
	$(PY) -m kmc.config --markdown > docs/config.md.tmp
	mv docs/config.md.tmp docs/config.md

clean:
	rm -rf build *.egg-info kmc/_*.so ext/*.c ext/*.cpp $(BUILT) .pytest_cache
	find . -path ./.venv -prune -o -name __pycache__ -type d -print | xargs rm -rf

distclean: clean
	rm -rf .venv
