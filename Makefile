# Build, test and demo targets. Everything runs inside a local virtual environment (.venv).
PY      := .venv/bin/python
KMC     := .venv/bin/kmc
DEPS    := .venv/.deps-stamp
BUILT   := .venv/.build-stamp
SOURCES := $(wildcard ext/*.pyx ext/*.pxd ext/*.h) setup.py pyproject.toml $(wildcard kmc/*.py)

.PHONY: all venv build demo test bench docs clean distclean

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

demo: build
	$(KMC) run runs/quickstart.toml -o results/quickstart --force
	$(PY) analysis/plot_run.py results/quickstart

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
