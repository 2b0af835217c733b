"""`kmc bench` runs its workloads through the real engine loop and reports what it measured."""
import json

from kmc.bench import growth, lattice_gas, main, physics


def test_workloads_report_events_and_memory():
    for r in (lattice_gas(10, 20_000), growth(12, 20_000), physics(1.0, 20_000)):
        assert r["events"] == 20_000, r
        assert r["events_per_s"] > 0 and r["wall_s"] > 0
        assert 10 < r["bytes_per_site"] < 64          # lattice + event structures only


def test_bench_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(json_path=str(out), tiny=True) == 0
    report = json.loads(out.read_text())
    names = [r["name"] for r in report["results"]]
    assert names[0].startswith("lattice_gas") and names[2].startswith("growth")
    assert names[3].startswith("physics")
    assert {"machine", "version", "results", "floor_met"} <= set(report)
    assert "ev/s" in capsys.readouterr().out
