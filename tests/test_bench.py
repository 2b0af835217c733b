"""`kmc bench` runs its workloads through the real engine loop and reports what it measured."""
import json
import math

import numpy as np
import pytest

from kmc import cli
from kmc._engine import Engine
from kmc.bench import (METROPOLIS_RATE, METROPOLIS_T, TINY_CYCLE, _config, _gas_params,
                       RUNS, growth, lattice_gas, main, physics, physics_cycle)
from kmc.lattice import bit_generator


def test_workloads_report_events_and_memory():
    for r in (lattice_gas(10, 20_000), growth(20, 20_000), physics(1.0, 20_000),
              lattice_gas(10, 20_000, rule="bond"), growth(20, 20_000, rule="bond")):
        assert r["events"] == 20_000 and r["stop"] == "events", r
        assert r["events_per_s"] > 0 and r["wall_s"] > 0
        assert 10 < r["bytes_per_site"] < 64          # lattice + event structures only


def test_lattice_gas_is_the_spparks_workload():
    """lattice_gas and growth run the Metropolis rule at T = 4 with prefactor 1/s (the
    SPPARKS lattice-gas workload) and say so; rule="bond" is the model's bond counting."""
    for fn, L in ((lattice_gas, 8), (growth, 8)):
        assert fn(L, 1000)["rule"] == "metropolis T=4"
        assert fn(L, 1000, rule="bond")["rule"] == "bond counting"
    params, label = _gas_params(_config(), 64, "metropolis")
    assert label == "metropolis T=4" and params["metropolis_T"] == METROPOLIS_T == 4.0
    assert params["k_bond"][5] == METROPOLIS_RATE == 1.0
    assert params["metropolis_table"] == [min(1.0, math.exp(-2 * dE / 4)) for dE in range(-6, 7)]
    eng = Engine(8, 8, 8, 0, 1, params, bit_generator(1), periodic_z=True,
                 track_connectivity=False)
    state = np.zeros(512, dtype=np.uint8)
    state[0] = 1                                   # one particle: six moves at 1/s
    eng.load_lattice(state, np.full(64, 8, dtype=np.intc))
    assert eng.metropolis and eng.totals[0] == 6.0


def test_bench_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(json_path=str(out), tiny=True) == 0
    report = json.loads(out.read_text())
    names = [r["name"] for r in report["results"]]
    assert names[0].startswith("lattice_gas") and names[2].startswith("growth")
    assert names[3].startswith("physics")
    assert {"machine", "version", "results", "floor_met"} <= set(report)
    rules = [r["rule"] for r in report["results"]]
    assert rules[:3] == ["metropolis T=4"] * 3 and rules[3] == "bond counting (model)"
    # issue 2's floor is read on the bond-counting lattice gas of the same size
    assert names[4] == names[1] and rules[4] == "bond counting"
    assert report["floor_met"] == (report["results"][4]["events_per_s"]
                                   >= report["floor_lattice_gas_events_per_s"])
    assert names[5].startswith("physics_cycle") and rules[5] == "bond counting (model)"
    # issue 7's sizes: small, 1e6-like and 1e7-like Metropolis lattice gases, and its targets
    sites = [r["sites"] for r in report["results"]]
    assert rules[6:] == ["metropolis T=4"] * 2 and sites[0] < sites[6] < sites[7]
    t = report["targets"]
    # flatness: the median over three pairs of adjacent 1e4 / 1e7 runs, the first pair from
    # the table above
    pairs = report["flatness_pairs"]
    assert len(pairs) == 3 and pairs[0] == [report["results"][0], report["results"][7]]
    assert all(a["sites"] == sites[0] and b["sites"] == sites[7] for a, b in pairs)
    ratios = [b["events_per_s"] / a["events_per_s"] for a, b in pairs]
    assert t["lattice_gas_1e7_over_1e4"]["pairs"] == pytest.approx(ratios)
    assert t["lattice_gas_1e7_over_1e4"]["value"] == pytest.approx(sorted(ratios)[1])
    assert t["physics_cycle_events_per_s"]["met"] == (report["results"][5]["events_per_s"] >= 1e6)
    assert set(t) == {"lattice_gas_1e6_events_per_s", "lattice_gas_1e7_over_1e4",
                      "physics_cycle_events_per_s", "bytes_per_site_1e7"}
    assert "ev/s" in capsys.readouterr().out


def test_physics_cycle_runs_a_whole_paper001_cycle():
    """The physics_cycle workload is one full plate/strip cycle of runs/paper001_cu.toml
    through the runner: every plated voxel comes back or is accounted for, and events/s is
    over the whole run."""
    r = physics_cycle(TINY_CYCLE)
    assert r["stop"] in ("exhausted", "voltage_cutoff", "time_cap")
    assert r["events"] > 1000 and r["events_per_s"] > 0 and r["sites"] == 10 * 10 * 24


def test_papers_bench_runs_a_paper_config_end_to_end(tmp_path, capsys):
    """`kmc bench --papers CONFIG` runs configs as they are (all cycles) and reports each one."""
    out = tmp_path / "papers.json"
    assert cli.main(["bench", "--papers", str(RUNS / "paper003_nbh.toml"), "--json", str(out)]) == 0
    (r,) = json.loads(out.read_text())["papers"]
    assert r["config"] == "paper003_nbh.toml" and r["cycles"] == 1 and r["dimension"] == 2
    assert r["events"] > 0 and r["wall_s"] > 0 and 0 < r["first_ce"] <= 1
    assert r["nonechem_per_echem"] >= 0
    assert "paper003_nbh.toml" in capsys.readouterr().out
