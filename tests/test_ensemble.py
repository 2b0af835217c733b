"""Ensembles: sweep files, replica seeds and ids, serial vs MPI identity, failures, kill and
resume, array tasks, aggregation and figures (kmc/sweep.py, kmc/ensemble.py, analysis/).

The runs are the quickstart cell shrunk by [set] overrides (5 um wide 2D box, 2 cycles of
0.2 mAh/cm2 at 1 mA/cm2, well under a second each). The shared sweep crosses two stack
pressures with two headrooms: lattice.headroom_um = 0.3 um is lower than the plated layer,
so those replicas fail with RunError ("the deposit reached the top of the lattice") while the
others complete. The kill/resume test widens the box so that a replica lasts ~2.5 s here.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kmc import cli
from kmc.config import load_config
from kmc.ensemble import replica_state
from kmc.runner import run_new
from kmc.sweep import assign_tasks, load_sweep, replica_seed

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:          # analysis/ is not installed; import it from the checkout
    sys.path.insert(0, str(ROOT))
from analysis.aggregate import aggregate, read_csv  # noqa: E402
from test_resume import strip_wall  # noqa: E402  (one JSON comparison helper for both)

QUICKSTART = ROOT / "runs" / "quickstart.toml"
MPIEXEC = Path(sys.executable).parent / "mpiexec"
TINY_SET = """
[set]
lattice.size_x_um = {width}
protocol.cycles = 2
protocol.plate_capacity_mAh_cm2 = 0.2
protocol.current_density_mA_cm2 = 1.0
output.snapshot_interval_s = 100.0
output.checkpoint_interval_wall_s = 1.0
"""
SWEEP = f"""
base = "{QUICKSTART}"
seeds = 2
base_seed = 7
{TINY_SET.format(width=5.0)}
[vary]
cell.stack_pressure_MPa = [5.0, 15.0]
lattice.headroom_um = [0.0, 0.3]
"""
ID_RE = re.compile(r"^p\d{3}_s\d{2}_[0-9a-f]{8}$")


def write(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def kmc(*args, mpi=0, timeout=300, wait=True):
    """``python -m kmc ARGS`` (under ``mpiexec -n mpi`` when mpi > 0) in the repository root."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               MPLBACKEND="Agg")
    cmd = [sys.executable, "-m", "kmc", *map(str, args)]
    if mpi:
        cmd = [str(MPIEXEC), "-n", str(mpi), sys.executable, "-m", "mpi4py", *cmd[1:]]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if not wait:
        return proc
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def run_files(folder):
    """{relative path: content} of a finished run folder's results (summary without wall_s,
    snapshot arrays as bytes)."""
    folder = Path(folder)
    out = {"summary.json": strip_wall(json.loads((folder / "summary.json").read_text()))}
    for name in ("timeseries.csv", "config.toml", "config.sha256"):
        out[name] = (folder / name).read_bytes()
    for p in sorted((folder / "snapshots").glob("*.npz")):
        with np.load(p) as z:
            out["snapshots/" + p.name] = {k: z[k].tobytes() for k in z.files}
    return out


def stamps(folder):
    """{relative path: (inode, mtime_ns)} of every file below folder."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def statuses(out):
    return {d.name: json.loads((d / "status.json").read_text())
            for d in sorted((Path(out) / "replicas").iterdir()) if (d / "status.json").exists()}


# ----------------------------------------------------------------------------- planning

def test_plan_crosses_and_zips_with_stable_ids(tmp_path):
    sweep = write(tmp_path / "s.toml", f"""
base = "{QUICKSTART}"
seeds = 2
base_seed = 11
zip = [["protocol.current_density_mA_cm2", "protocol.strip_time_cap_h"]]
[vary]
cell.collector = ["Cu", "steel"]
protocol.current_density_mA_cm2 = [0.25, 1.0]
cell.stack_pressure_MPa = {{start = 5, stop = 15, step = 5}}
protocol.strip_time_cap_h = [4.0, 1.0]
""")
    s = load_sweep(sweep)
    # TOML groups the dotted keys by section: cell.collector, cell.stack_pressure_MPa, then
    # the zipped protocol pair; the first factor varies slowest
    expected = [{"cell.collector": c, "cell.stack_pressure_MPa": p,
                 "protocol.current_density_mA_cm2": j, "protocol.strip_time_cap_h": t}
                for c in ("Cu", "steel") for p in (5.0, 10.0, 15.0)
                for j, t in ((0.25, 4.0), (1.0, 1.0))]
    assert s.points == expected
    assert [list(p) for p in s.points] == [list(expected[0])] * 12
    assert len(s.replicas) == 2 * 12
    for r in s.replicas:
        assert ID_RE.match(r.id), r.id
        assert r.index == r.seed_index * 12 + r.point                 # seed-major
        assert r.id.startswith(f"p{r.point:03d}_s{r.seed_index:02d}_")
        assert r.cfg["run"]["seed"] == r.seed and r.cfg["run"]["name"] == r.id
        assert r.cfg["cell"]["collector"] == r.overrides["cell.collector"]
        assert r.cfg["protocol"]["strip_time_cap_h"] == r.overrides["protocol.strip_time_cap_h"]
    # one hash per point, the same for every seed of that point
    by_point = {}
    for r in s.replicas:
        by_point.setdefault(r.point, set()).add(r.id.rsplit("_", 1)[1])
    assert all(len(h) == 1 for h in by_point.values())
    assert len({h.pop() for h in by_point.values()}) == 12
    # stable: the same file gives the same plan; more seeds only add replicas
    again = load_sweep(sweep)
    assert [r.record() for r in again.replicas] == [r.record() for r in s.replicas]
    more = load_sweep(write(tmp_path / "s3.toml",
                            sweep.read_text().replace("seeds = 2", "seeds = 3")))
    assert [r.record() for r in more.replicas[:24]] == [r.record() for r in s.replicas]
    assert len(more.replicas) == 36


def test_ranges_expand(tmp_path):
    sweep = write(tmp_path / "r.toml", f"""
base = "{QUICKSTART}"
[vary]
protocol.current_density_mA_cm2 = {{start = 0.1, stop = 10.0, num = 3, log = true}}
cell.temperature_K = {{start = 280.0, stop = 300.0, num = 3}}
protocol.cycles = {{start = 1, stop = 7, step = 3}}
""")
    params = dict(load_sweep(sweep).params)
    assert params["protocol.current_density_mA_cm2"] == [0.1, 1.0, 10.0]
    assert params["cell.temperature_K"] == [280.0, 290.0, 300.0]
    assert params["protocol.cycles"] == [1, 4, 7]
    assert all(isinstance(v, int) for v in params["protocol.cycles"])


def test_replica_seeds_come_from_seedsequence(tmp_path):
    s = load_sweep(write(tmp_path / "s.toml", SWEEP))
    assert s.base_seed == 7
    for r in s.replicas:
        ss = np.random.SeedSequence(7, spawn_key=(r.index,))
        assert r.seed == int(ss.generate_state(1, dtype=np.uint64)[0]) >> 1
        assert r.seed == replica_seed(7, r.index)
    assert len({r.seed for r in s.replicas}) == len(s.replicas)
    # the default base seed is the base config's run.seed (quickstart: 1)
    d = load_sweep(write(tmp_path / "d.toml", SWEEP.replace("base_seed = 7\n", "")))
    assert d.base_seed == 1 and d.replicas[3].seed == replica_seed(1, 3)


def test_array_tasks_partition_by_cost(tmp_path):
    s = load_sweep(write(tmp_path / "s.toml", SWEEP.replace(
        "cell.stack_pressure_MPa = [5.0, 15.0]", "lattice.size_x_um = [5.0, 10.0, 20.0]")
        .replace("lattice.size_x_um = 5.0\n", "")))
    tasks = assign_tasks(s.replicas, 3)
    ids = sorted(r.id for t in tasks for r in t)
    assert ids == sorted(r.id for r in s.replicas)                # disjoint and complete
    loads = [sum(r.cost for r in t) for t in tasks]
    assert max(loads) - min(loads) <= max(r.cost for r in s.replicas)
    assert assign_tasks(s.replicas, 3) == tasks                    # deterministic
    # equal estimated costs: each point is spread over the tasks, not one point per task
    eq = load_sweep(write(tmp_path / "e.toml", SWEEP)).replicas       # 4 points x 2 seeds
    for t in assign_tasks(eq, 4):
        assert len({r.point for r in t}) == 2, [r.id for r in t]


@pytest.mark.parametrize("path", sorted((ROOT / "runs" / "sweeps").glob("*.toml")),
                         ids=lambda p: p.name)
def test_shipped_sweeps_are_valid(path):
    s = load_sweep(path)
    assert s.replicas and len(s.replicas) == s.seeds * len(s.points)


def test_plan_command_lists_replicas(tmp_path, capsys):
    sweep = write(tmp_path / "s.toml", SWEEP)
    out = tmp_path / "OUT"
    assert cli.main(["plan", str(sweep), "-o", str(out), "--array-count", "2"]) == 0
    text = capsys.readouterr().out
    s = load_sweep(sweep)
    for r in s.replicas:
        assert re.search(rf"^{r.id}\s+{r.index}\s+{r.seed}\s+\S+\s+new\s+[01]\s", text, re.M)
    assert "8 replicas" in text
    plan = json.loads((out / "plan.json").read_text())
    assert [r["id"] for r in plan["replicas"]] == [r.id for r in s.replicas]
    assert [p["key"] for p in plan["parameters"]] == ["cell.stack_pressure_MPa",
                                                       "lattice.headroom_um"]
    assert not any((out / "replicas").iterdir())                     # nothing was run


BAD = [
    ("unknown", 'base = "{q}"\nsets = 2\n', "sets"),
    ("no_base", "seeds = 2\n", "base"),
    ("missing_base", 'base = "nope.toml"\n', "base"),
    ("seeds", 'base = "{q}"\nseeds = 0\n', "seeds"),
    ("unknown_key", 'base = "{q}"\n[vary]\ncell.pressure = [1.0]\n', "vary.cell.pressure"),
    ("out_of_range", 'base = "{q}"\n[vary]\ncell.stack_pressure_MPa = [5.0, -1.0]\n',
     "vary.cell.stack_pressure_MPa"),
    ("wrong_type", 'base = "{q}"\n[vary]\nseed.material = ["Ag", 3]\n', "vary.seed.material"),
    ("empty", 'base = "{q}"\n[vary]\ncell.stack_pressure_MPa = []\n',
     "vary.cell.stack_pressure_MPa"),
    ("zip_len", 'base = "{q}"\nzip = [["cell.stack_pressure_MPa", "cell.temperature_K"]]\n'
     '[vary]\ncell.stack_pressure_MPa = [5.0, 15.0]\ncell.temperature_K = [300.0]\n', "zip[0]"),
    ("zip_key", 'base = "{q}"\nzip = [["cell.stack_pressure_MPa", "cell.metal"]]\n'
     '[vary]\ncell.stack_pressure_MPa = [5.0, 15.0]\n', "zip[0][1]"),
    ("range", 'base = "{q}"\n[vary]\ncell.stack_pressure_MPa = {{start = 1.0, stop = 2.0}}\n',
     "vary.cell.stack_pressure_MPa"),
    ("seed", 'base = "{q}"\n[set]\nrun.seed = 3\n', "set.run.seed"),
    ("set_value", 'base = "{q}"\n[set]\nprotocol.cycles = 0\n', "set.protocol.cycles"),
    ("toml", 'base = "{q}"\n[vary\n', None),
]


@pytest.mark.parametrize("name,text,key", BAD, ids=[b[0] for b in BAD])
def test_bad_sweep_is_one_line_exit_2_nothing_written(tmp_path, capsys, name, text, key):
    sweep = write(tmp_path / "bad.toml", text.format(q=QUICKSTART))
    out = tmp_path / "OUT"
    for command in ("ensemble", "plan"):
        extra = ["--no-progress"] if command == "ensemble" else []
        assert cli.main([command, str(sweep), "-o", str(out), *extra]) == 2
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        key = key or str(sweep)
        assert lines[0].startswith(f"config error: {key}: "), lines[0]
        assert "(got " in lines[0]
        assert not out.exists()


def test_bad_sweep_under_mpi_is_one_line(tmp_path):
    sweep = write(tmp_path / "bad.toml", BAD[5][1].format(q=QUICKSTART))
    rc, out, err = kmc("ensemble", sweep, "-o", tmp_path / "OUT", mpi=2, timeout=120)
    assert rc == 2
    assert err.strip().splitlines() == [
        "config error: vary.cell.stack_pressure_MPa: must be in [0, 500] (got -1.0)"]
    assert not (tmp_path / "OUT").exists()


# ----------------------------------------------------------------------------- running

@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory):
    return write(tmp_path_factory.mktemp("sweep") / "tiny.toml", SWEEP)


@pytest.fixture(scope="module")
def serial(tmp_path_factory, sweep_file):
    out = tmp_path_factory.mktemp("serial") / "OUT"
    rc, stdout, stderr = kmc("ensemble", sweep_file, "-o", out, "--no-progress")
    return out, rc, stdout, stderr


@pytest.fixture(scope="module")
def mpi(tmp_path_factory, sweep_file):
    out = tmp_path_factory.mktemp("mpi") / "OUT"
    rc, stdout, stderr = kmc("ensemble", sweep_file, "-o", out, "--no-progress", mpi=2)
    return out, rc, stdout, stderr


def test_failing_replicas_are_recorded_and_the_others_complete(serial):
    out, rc, stdout, stderr = serial
    assert rc == 1, stdout + stderr                     # some replicas failed
    st = statuses(out)
    assert len(st) == 8
    failed = {rid for rid, s in st.items() if s["status"] == "failed"}
    complete = {rid for rid, s in st.items() if s["status"] == "complete"}
    plan = json.loads((out / "plan.json").read_text())
    headroom = {r["id"]: r["overrides"]["lattice.headroom_um"] for r in plan["replicas"]}
    assert failed == {rid for rid, h in headroom.items() if h == 0.3}
    assert complete == {rid for rid, h in headroom.items() if h == 0.0}
    for rid in failed:
        assert st[rid]["error"].startswith("RunError: the deposit reached the top")
        assert "Traceback" in st[rid]["traceback"]
        assert f"failed: {rid}: RunError" in stdout
    for rid in complete:
        summ = json.loads((out / "replicas" / rid / "summary.json").read_text())
        assert summ["complete"] and len(summ["cycles"]) == 2
        assert not (out / "replicas" / rid / "checkpoint.npz").exists()
    assert "4 complete" in stdout and "4 failed" in stdout


def test_serial_and_mpi_results_are_bit_identical(serial, mpi):
    (a, rc_a, _, _), (b, rc_b, out_b, err_b) = serial, mpi
    assert rc_b == rc_a == 1, out_b + err_b
    sa, sb = statuses(a), statuses(b)
    assert sorted(sa) == sorted(sb)
    for rid in sa:
        assert sa[rid]["status"] == sb[rid]["status"]
        assert sa[rid].get("error") == sb[rid].get("error")
        assert (a / "replicas" / rid / "replica.json").read_bytes() == \
            (b / "replicas" / rid / "replica.json").read_bytes()
        if sa[rid]["status"] == "complete":
            fa, fb = run_files(a / "replicas" / rid), run_files(b / "replicas" / rid)
            assert fa.keys() == fb.keys() and len(fa) > 4
            for name in fa:
                assert fa[name] == fb[name], f"{rid}/{name}"
    assert {s["rank"] for s in sb.values()} == {0, 1}       # both ranks ran replicas
    assert (a / "plan.json").read_bytes() == (b / "plan.json").read_bytes()


def test_replica_is_an_ordinary_run_of_its_config(serial, tmp_path):
    """A replica folder is reproduced by `kmc run` of its own config.toml (its seed is in it)."""
    out = serial[0]
    rid = next(r for r, s in statuses(out).items() if s["status"] == "complete")
    folder = out / "replicas" / rid
    ident = json.loads((folder / "replica.json").read_text())
    cfg = load_config(folder / "config.toml")
    assert cfg["run"]["seed"] == ident["seed"] == replica_seed(7, ident["index"])
    assert run_new(cfg, tmp_path / "again", progress=False) == 0
    assert run_files(tmp_path / "again") == run_files(folder)


def test_rerun_skips_finished_and_failed_and_retry_reruns_failed(serial, sweep_file, tmp_path,
                                                                 capsys):
    out = tmp_path / "OUT"
    shutil.copytree(serial[0], out)
    before = stamps(out / "replicas")
    assert cli.main(["ensemble", str(sweep_file), "-o", str(out), "--no-progress"]) == 1
    text = capsys.readouterr().out
    assert "0 run now, 4 already complete" in text and "failed in an earlier run" in text
    assert stamps(out / "replicas") == before            # nothing recomputed or rewritten
    assert cli.main(["ensemble", str(sweep_file), "-o", str(out), "--no-progress",
                     "--retry-failed"]) == 1
    after = stamps(out / "replicas")
    st = statuses(out)
    for rid, s in st.items():
        if s["status"] == "complete":
            assert all(after[k] == v for k, v in before.items() if k.startswith(rid))
        else:
            assert after[f"{rid}/status.json"] != before[f"{rid}/status.json"]


def test_changed_sweep_on_same_out_is_refused(serial, tmp_path, capsys):
    out = tmp_path / "OUT"
    shutil.copytree(serial[0], out)
    before = stamps(out)
    other = write(tmp_path / "other.toml", SWEEP.replace("protocol.cycles = 2",
                                                         "protocol.cycles = 3"))
    assert cli.main(["ensemble", str(other), "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "another config" in err[0]
    assert stamps(out) == before


def test_array_tasks_together_give_the_serial_results(serial, sweep_file, tmp_path):
    out = tmp_path / "OUT"
    for k in (0, 1):
        rc, stdout, stderr = kmc("ensemble", sweep_file, "-o", out, "--no-progress",
                                 "--array-task", k, "--array-count", 2)
        assert rc in (0, 1), stdout + stderr                  # 1: a failed replica
        assert f"array task {k} of 2: 4 of 8" in stdout
        assert len(statuses(out)) == 4 * (k + 1)
    sa, sb = statuses(serial[0]), statuses(out)
    assert sorted(sa) == sorted(sb)
    for rid in sa:
        if sa[rid]["status"] == "complete":
            assert run_files(serial[0] / "replicas" / rid) == run_files(out / "replicas" / rid)


@pytest.fixture(scope="module")
def width(tmp_path_factory):
    """Box width (um) for replicas of ~2 s on this machine: widen the box until a run takes
    > 0.8 s, then scale the width linearly (the work per column is the same)."""
    tmp = tmp_path_factory.mktemp("cal")
    size, k = 20.0, 0
    while True:
        sets = [f"lattice.size_x_um={size}", "protocol.cycles=2",
                "protocol.plate_capacity_mAh_cm2=0.2", "protocol.current_density_mA_cm2=1.0"]
        assert run_new(load_config(QUICKSTART, sets), tmp / f"c{k}", progress=False) == 0
        wall = json.loads((tmp / f"c{k}" / "summary.json").read_text())["wall_s"]
        k += 1
        if wall > 0.8 or size >= 5000.0:
            break
        size = min(5000.0, size * min(10.0, 1.5 / max(wall, 0.01)))
    return float(min(5000.0, max(20.0, round(size * 2.0 / wall))))


def test_kill_and_resume_loses_nothing_and_recomputes_nothing(tmp_path, width):
    """SIGTERM while the second of three replicas runs: exit status 130, the first complete,
    the second checkpointed, the third not started. Rerunning skips the first (its files are
    not touched), continues the second from its checkpoint (its earlier snapshots are kept)
    and runs the third; the second ends identical to an uninterrupted run."""
    sweep = write(tmp_path / "k.toml", f"""
base = "{QUICKSTART}"
seeds = 3
{TINY_SET.format(width=width)}
""")
    out = tmp_path / "OUT"
    proc = kmc("ensemble", sweep, "-o", out, "--no-progress", wait=False)
    reps = load_sweep(sweep).replicas
    first, second = reps[0], reps[1]              # equal costs: taken in index order
    folder = lambda r: out / "replicas" / r.id  # noqa: E731
    t0 = time.monotonic()
    while not list((folder(second) / "snapshots").glob("t*.npz")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < 120
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    assert "1 complete" in stdout and "1 interrupted, 1 not started" in stdout
    assert replica_state(folder(first), first) == "complete"
    assert replica_state(folder(second), second) == "checkpointed"
    assert not folder(reps[2]).exists()
    done_before = stamps(folder(first))
    snaps_before = {k: v for k, v in stamps(folder(second)).items() if k.startswith("snapshots/")}
    assert snaps_before

    rc, stdout, stderr = kmc("ensemble", sweep, "-o", out, "--no-progress")
    assert rc == 0, stdout + stderr
    assert "2 run now, 1 already complete" in stdout
    assert stamps(folder(first)) == done_before              # not recomputed
    after = stamps(folder(second))
    assert all(after[k] == v for k, v in snaps_before.items())   # continued, not restarted
    assert replica_state(folder(reps[2]), reps[2]) == "complete"
    # the interrupted replica equals an uninterrupted run of the same replica
    ref = tmp_path / "ref"
    assert run_new(second.cfg, ref, progress=False) == 0
    assert run_files(ref) == run_files(folder(second))


# ----------------------------------------------------------------------------- analysis

def test_aggregate_tables(serial, tmp_path):
    out = tmp_path / "OUT"
    shutil.copytree(serial[0], out)
    res = aggregate(out, n_boot=2000)
    assert (res["complete"], res["failed"], res["unfinished"]) == (4, 4, 0)
    rows = read_csv(out / "aggregate.csv")
    assert len(rows) == 4 * 2
    head = list(rows[0])
    assert head[:8] == ["replica_id", "point", "seed_index", "replica_index", "seed",
                        "condition", "cell.stack_pressure_MPa", "lattice.headroom_um"]
    for col in ("cycle", "ce", "contact_fraction_end_of_strip", "plated_mAh_cm2",
                "stripped_mAh_cm2", "dead_mAh_cm2"):
        assert col in head
    for r in rows:
        summ = json.loads((out / "replicas" / r["replica_id"] / "summary.json").read_text())
        rec = summ["cycles"][r["cycle"] - 1]
        assert r["ce"] == rec["ce"] and r["seed"] == summ["seed"]
    summary = read_csv(out / "summary.csv")
    assert len(summary) == 2 * 2
    for s in summary:
        grp = [r for r in rows if r["point"] == s["point"] and r["cycle"] == s["cycle"]]
        assert s["n"] == len(grp) == 2
        for m in ("ce", "contact_fraction_end_of_strip"):
            x = np.array([g[m] for g in grp])
            assert s[f"{m}_mean"] == pytest.approx(x.mean(), abs=1e-15)
            assert s[f"{m}_std"] == pytest.approx(x.std(ddof=1), abs=1e-15)
            assert s[f"{m}_ci95_lo"] <= s[f"{m}_mean"] <= s[f"{m}_ci95_hi"]
            assert x.min() <= s[f"{m}_ci95_lo"] and s[f"{m}_ci95_hi"] <= x.max()
    # reproducible
    text = (out / "summary.csv").read_bytes()
    aggregate(out, n_boot=2000)
    assert (out / "summary.csv").read_bytes() == text


def test_aggregate_cli_and_figures(serial, tmp_path):
    out = tmp_path / "OUT"
    shutil.copytree(serial[0], out)
    rc, stdout, stderr = kmc("aggregate", out, "--figures", "--bootstrap", "500")
    assert rc == 0, stdout + stderr
    assert "4 of 8 replicas complete (4 failed" in stdout
    for name in ("ce_vs_cycle", "contact_vs_charge", "voltage_curves",
                 "heatmap_stripped_mAh_cm2"):
        for ext in ("png", "pdf"):
            p = out / "figures" / f"{name}.{ext}"
            assert p.exists() and p.stat().st_size > 5000, p
    rc, stdout, stderr = kmc("aggregate", tmp_path / "nothing")
    assert rc == 2 and stderr.strip().startswith("error: ") and "plan.json" in stderr
