"""Ensembles: run the replicas of a sweep (kmc/sweep.py) serially or over MPI ranks, resumably.

Output folder::

    OUT/plan.json                  the sweep expanded into replicas (ids, seeds, config hashes)
    OUT/sweep.toml                 copy of the sweep file
    OUT/replicas/<id>/             one run folder per replica (layout of kmc/runner.py) plus
        replica.json               the replica's identity (index, seed, point, config hash)
        status.json                completion marker: {"status": "complete" | "failed", ...}

Every file is written atomically (temp file, fsync, rename). A replica is finished when its
summary.json says "complete" (status.json "complete" is written right after it) and failed
when status.json says "failed" (with the error); a failed replica does not stop the others.

Scheduling. Every rank expands the same plan; the replicas still to do are ordered longest
first (estimated cost: measured wall time of finished replicas of the same point where known,
else plated voxels x cycles) and handed out through one shared counter (an MPI window on
rank 0, MPI_Fetch_and_op), so every rank, rank 0 included, computes: rank 0 keeps the MPI
progress engine turning between engine chunks and draws the one progress bar. A replica's
result depends only on its config and seed, never on the rank that ran it.

Resume. Running the same command on the same OUT skips finished (and failed, unless
--retry-failed) replicas and continues interrupted ones from their checkpoints. SIGTERM or
SIGINT make the running replicas checkpoint; no new replica is started; the command exits
with status 130. A replica folder that holds another config or seed is never touched: the
command stops with an error before anything is written (use a new OUT, or --force).

Without MPI (no launcher in the environment) mpi4py is not imported.
"""
import json
import os
import shutil
import socket
import sys
import time
import traceback
from pathlib import Path

from kmc.config import ConfigError, config_hash, resolved_toml
from kmc.io import write_json_atomic, write_text_atomic
from kmc.sweep import Replica, assign_tasks, load_sweep, point_label

__all__ = ["run_ensemble", "plan_command", "replica_state", "run_replica", "EnsembleError",
           "PLAN", "REPLICAS", "STATUS", "REPLICA"]

PLAN = "plan.json"
SWEEP_COPY = "sweep.toml"
REPLICAS = "replicas"
STATUS = "status.json"
REPLICA = "replica.json"
OWNED = (PLAN, SWEEP_COPY, REPLICAS, "aggregate.csv", "summary.csv", "figures")
# environment variables set by MPI launchers (hydra/MPICH, Open MPI, PMIx, Slurm PMI)
LAUNCHER_ENV = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE",
                "MPI_LOCALNRANKS")
NEXT, DONE, FAILED, FINISHED = range(4)   # slots of the shared counter


class EnsembleError(Exception):
    """The ensemble cannot run on this OUT (it holds other results, bad array options)."""


# ----------------------------------------------------------------------------- replica folders

def replica_dir(out, rep: Replica) -> Path:
    return Path(out) / REPLICAS / rep.id


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def replica_state(folder: Path, rep: Replica) -> str:
    """'new', 'started' (killed before its first checkpoint), 'checkpointed', 'complete',
    'failed', or 'conflict' (the folder holds another config or seed)."""
    folder = Path(folder)
    if not folder.is_dir() or not any(folder.iterdir()):
        return "new"
    ident = _read_json(folder / REPLICA)
    if ident is None:
        return "conflict" if (folder / "config.toml").exists() else "new"
    if (ident.get("config_hash"), ident.get("seed"), ident.get("index")) != \
            (rep.config_hash, rep.seed, rep.index):
        return "conflict"
    status = _read_json(folder / STATUS) or {}
    if status.get("status") == "failed":
        return "failed"
    summary = _read_json(folder / "summary.json") or {}
    if summary.get("complete"):
        return "complete"
    if (folder / "checkpoint.npz").exists():
        return "checkpointed"
    return "started"


def _identity(rep: Replica, sweep_name: str) -> dict:
    rec = rep.record()
    rec.update(sweep=sweep_name, label=point_label(rep.overrides),
               spawn_key=[rep.index])
    return rec


def _write_status(folder: Path, status: str, wall_s: float, rank=0, error=None, tb=None):
    rec = {"status": status, "wall_s": wall_s, "host": socket.gethostname(),
           "rank": rank, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if error is not None:
        rec["error"] = error
        rec["traceback"] = tb
    write_json_atomic(folder / STATUS, rec)



def run_replica(rep: Replica, folder: Path, stop_flag=None, sweep_name="", retry=False,
                rank=0):
    """Run, continue or skip one replica in ``folder``; never prints.

    Returns (status, error): status 'complete', 'failed' or 'interrupted' (checkpoint
    written); error is 'Type: message' for a failed replica. Exceptions raised by the run
    (RunError, a broken invariant, MemoryError, ...) are recorded in status.json.
    """
    from kmc.runner import CHECKPOINT, Interrupted, Run

    folder = Path(folder)
    state = replica_state(folder, rep)
    if state == "conflict":    # appeared after the plan was checked: leave it alone
        return "failed", f"EnsembleError: {folder} holds another config or seed"
    if state == "complete":
        if (_read_json(folder / STATUS) or {}).get("status") != "complete":
            summ = _read_json(folder / "summary.json") or {}
            _write_status(folder, "complete", summ.get("wall_s", 0.0), rank)
        return "complete", None
    if state == "failed" and not retry:
        return "failed", (_read_json(folder / STATUS) or {}).get("error", "failed")
    run = None
    try:
        if state == "checkpointed":
            run = Run(rep.cfg, folder)
            run.restore(folder / CHECKPOINT)
        else:   # new, started before its first checkpoint, or failed and retried: start over
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            write_json_atomic(folder / REPLICA, _identity(rep, sweep_name))
            run = Run(rep.cfg, folder)
            write_text_atomic(folder / "config.toml", resolved_toml(rep.cfg))
            write_text_atomic(folder / "config.sha256", config_hash(rep.cfg) + "\n")
            run.record_row()
        run.drive(progress=False, stop_flag=stop_flag)
    except Interrupted:
        return "interrupted", None
    except Exception as err:  # noqa: BLE001 - any failure of one replica is recorded
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / REPLICA).exists():
            write_json_atomic(folder / REPLICA, _identity(rep, sweep_name))
        msg = f"{type(err).__name__}: {err}"
        _write_status(folder, "failed", run.pos["wall_s"] if run else 0.0, rank, msg,
                      traceback.format_exc())
        return "failed", msg
    _write_status(folder, "complete", run.pos["wall_s"], rank)
    return "complete", None


# ----------------------------------------------------------------------------- schedulers

class _Serial:
    rank, size = 0, 1

    def __init__(self):
        self.c = [0, 0, 0, 0]

    def fetch_add(self, slot, n=1):
        v = self.c[slot]
        self.c[slot] += n
        return v

    def read(self):
        return list(self.c)

    def poke(self):
        pass

    def bcast(self, obj):
        return obj

    def gather(self, obj):
        return [obj]

    def barrier(self):
        pass

    def open_counter(self):
        pass

    def close(self):
        pass


class _MPI:
    """Shared counters in an MPI window on rank 0 (passive target, Fetch_and_op)."""

    def __init__(self, comm):
        from mpi4py import MPI
        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.win = None

    def open_counter(self):
        import numpy as np
        MPI = self.MPI
        self.np = np
        self.win = MPI.Win.Allocate(4 * 8 if self.rank == 0 else 0, 8, comm=self.comm)
        if self.rank == 0:
            self.win.Lock(0, MPI.LOCK_EXCLUSIVE)
            self.win.Put(np.zeros(4, dtype=np.int64), 0)
            self.win.Unlock(0)
        self.comm.Barrier()

    def fetch_add(self, slot, n=1):
        np, MPI = self.np, self.MPI
        one, res = np.array([n], dtype=np.int64), np.zeros(1, dtype=np.int64)
        self.win.Lock(0, MPI.LOCK_SHARED)
        self.win.Fetch_and_op(one, res, 0, slot, MPI.SUM)
        self.win.Unlock(0)
        return int(res[0])

    def read(self):
        np, MPI = self.np, self.MPI
        buf = np.zeros(4, dtype=np.int64)
        self.win.Lock(0, MPI.LOCK_SHARED)
        self.win.Get(buf, 0)
        self.win.Unlock(0)
        return [int(v) for v in buf]

    def poke(self):
        """Let MPI serve the other ranks' counter requests (passive target needs progress)."""
        self.comm.Iprobe()

    def bcast(self, obj):
        return self.comm.bcast(obj, root=0)

    def gather(self, obj):
        return self.comm.gather(obj, root=0)

    def barrier(self):
        self.comm.Barrier()

    def close(self):
        if self.win is not None:
            self.win.Free()
            self.win = None


def _mpi_world():
    """COMM_WORLD when launched by an MPI launcher with more than one rank, else None."""
    if "mpi4py.MPI" not in sys.modules and not any(v in os.environ for v in LAUNCHER_ENV):
        return None
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    return comm if comm.Get_size() > 1 else None


# ----------------------------------------------------------------------------- planning

def _check_array(task, count):
    if (task is None) != (count is None):
        raise EnsembleError("--array-task and --array-count go together")
    if count is not None:
        if count < 1:
            raise EnsembleError(f"--array-count must be at least 1 (got {count})")
        if not 0 <= task < count:
            raise EnsembleError(f"--array-task must be in [0, {count - 1}] (got {task})")


def _selection(sweep, task, count):
    if count is None:
        return list(sweep.replicas)
    return sorted(assign_tasks(sweep.replicas, count)[task], key=lambda r: r.index)


def _scan(out: Path, sweep):
    """{id: state} of every planned replica and {point: mean wall_s} of finished ones."""
    states, walls = {}, {}
    for rep in sweep.replicas:
        folder = replica_dir(out, rep)
        st = replica_state(folder, rep)
        states[rep.id] = st
        if st == "complete":
            w = (_read_json(folder / "summary.json") or {}).get("wall_s")
            if isinstance(w, (int, float)) and w > 0:
                walls.setdefault(rep.point, []).append(float(w))
    return states, {p: sum(v) / len(v) for p, v in walls.items()}


def _estimates(sweep, walls):
    """Estimated cost of each replica: measured wall time of its point where known, else the
    plated-voxel proxy (scaled to seconds by the median measured ratio, if any)."""
    ratios = sorted(walls[p] / r.cost for p in walls for r in sweep.replicas
                    if r.point == p and r.cost > 0)
    scale = ratios[len(ratios) // 2] if ratios else 1.0
    return {r.id: walls.get(r.point, r.cost * scale) for r in sweep.replicas}


def _conflict_error(out, conflicts):
    first = conflicts[0]
    more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
    return EnsembleError(
        f"{Path(out) / REPLICAS / first} holds a replica of another config or seed{more}: "
        f"the sweep or its base config changed; use another -o OUT, or --force to discard "
        f"the results in {out}")


def _wipe(out: Path):
    for name in OWNED:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def _write_plan(out: Path, sweep):
    out.mkdir(parents=True, exist_ok=True)
    (out / REPLICAS).mkdir(exist_ok=True)
    write_json_atomic(out / PLAN, sweep.plan_record())
    write_text_atomic(out / SWEEP_COPY, sweep.path.read_text(encoding="utf-8"))


def plan_command(sweep_path, out, array_count=None) -> int:
    """``kmc plan``: print the replicas and their state in OUT, write OUT/plan.json."""
    sweep = load_sweep(sweep_path)
    if array_count is not None:
        _check_array(0, array_count)
    out = Path(out)
    states, walls = _scan(out, sweep)
    est = _estimates(sweep, walls)
    task_of = {}
    if array_count:
        for k, reps in enumerate(assign_tasks(sweep.replicas, array_count)):
            for r in reps:
                task_of[r.id] = k
    npts = len(sweep.points)
    print(f"sweep {sweep.name} ({sweep.path}): base {sweep.base}, {npts} point"
          f"{'s' if npts != 1 else ''} x {sweep.seeds} seed{'s' if sweep.seeds != 1 else ''}"
          f" = {len(sweep.replicas)} replicas, base_seed {sweep.base_seed}")
    for p in sweep.parameters():
        unit = f" ({p['unit']})" if p["unit"] not in ("", "-") else ""
        print(f"  vary {p['key']}{unit}: {', '.join(map(str, p['values']))}")
    unit = "s" if walls else "voxels"
    keys = [p["key"] for p in sweep.parameters()]
    head = ["id", "index", "seed", f"cost ({unit})", "state"] + \
        (["task"] if array_count else []) + keys
    rows = []
    for r in sorted(sweep.replicas, key=lambda r: r.id):
        rows.append([r.id, str(r.index), str(r.seed), f"{est[r.id]:.4g}", states[r.id]] +
                    ([str(task_of[r.id])] if array_count else []) +
                    [str(r.overrides[k]) for k in keys])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    counts = {}
    for st in states.values():
        counts[st] = counts.get(st, 0) + 1
    print("state: " + ", ".join(f"{n} {st}" for st, n in sorted(counts.items())))
    if array_count:
        loads = [sum(est[r.id] for r in reps)
                 for reps in assign_tasks(sweep.replicas, array_count)]
        print(f"array: {array_count} tasks, estimated cost per task "
              f"{min(loads):.4g}-{max(loads):.4g} {unit}")
    conflicts = [rid for rid, st in states.items() if st == "conflict"]
    if conflicts:
        raise _conflict_error(out, conflicts)
    _write_plan(out, sweep)
    print(f"plan: {out / PLAN}")
    return 0


# ----------------------------------------------------------------------------- the ensemble

def run_ensemble(sweep_path, out, array_task=None, array_count=None, progress=True,
                 retry_failed=False, force=False) -> int:
    """``kmc ensemble``: the exit status (0 all selected replicas complete, 1 some failed,
    2 bad sweep or OUT, 130 interrupted: rerun to continue). Under MPI every rank calls
    this; only rank 0 prints."""
    comm = _mpi_world()
    sched = _MPI(comm) if comm is not None else _Serial()
    try:
        rc = _ensemble(sched, sweep_path, Path(out), array_task, array_count, progress,
                       retry_failed, force)
    except (ConfigError, EnsembleError) as err:
        if sched.rank == 0:
            msg = str(err) if isinstance(err, ConfigError) else f"error: {err}"
            print(msg, file=sys.stderr)
        rc = 2
    if comm is not None:
        # finalize here so that a non-zero status does not make mpi4py call MPI_Abort
        sys.stdout.flush()
        sys.stderr.flush()
        sched.barrier()
        sched.MPI.Finalize()
    return rc


def _ensemble(sched, sweep_path, out, array_task, array_count, progress, retry_failed,
              force):
    _check_array(array_task, array_count)
    if force and array_count is not None:
        raise EnsembleError("--force cannot be combined with --array-task (tasks would "
                            "delete each other's results)")
    sweep = load_sweep(sweep_path)          # every rank, deterministic
    # rank 0 looks at OUT and decides; the other ranks follow its decision
    if sched.rank == 0:
        try:
            if force:
                _wipe(out)
            states, walls = _scan(out, sweep)
            conflicts = [rid for rid, st in states.items() if st == "conflict"]
            if conflicts:
                raise _conflict_error(out, conflicts)
            _write_plan(out, sweep)
            decision = ("ok", states, walls)
        except EnsembleError as err:
            decision = ("error", str(err), None)
        except OSError as err:
            decision = ("error", f"{out}: {err.strerror or err}", None)
    else:
        decision = None
    decision = sched.bcast(decision)
    if decision[0] == "error":
        raise EnsembleError(decision[1])
    _, states, walls = decision

    selection = _selection(sweep, array_task, array_count)
    skip = ("complete",) if retry_failed else ("complete", "failed")
    est = _estimates(sweep, walls)
    todo = sorted((r for r in selection if states[r.id] not in skip),
                  key=lambda r: (-est[r.id], r.index))

    sched.open_counter()
    bar = None
    if sched.rank == 0 and progress:
        from tqdm import tqdm
        bar = tqdm(total=len(selection), initial=len(selection) - len(todo),
                   unit="replica", desc=f"ensemble {sweep.name}", dynamic_ncols=True)
    last = [0.0, len(selection) - len(todo), ""]

    def refresh(force_read=False):
        """Rank 0: keep MPI progress going and update the bar (at most once a second)."""
        sched.poke()
        now = time.perf_counter()
        if bar is None or (not force_read and now - last[0] < 1.0):
            return
        last[0] = now
        c = sched.read()
        shown = len(selection) - len(todo) + c[DONE] + c[FAILED]
        if shown > last[1]:
            bar.update(shown - last[1])
            last[1] = shown
        postfix = (f"{sched.size} ranks, " if sched.size > 1 else "") + f"{c[FAILED]} failed"
        if postfix != last[2]:
            bar.set_postfix_str(postfix, refresh=False)
            last[2] = postfix
        bar.refresh()

    from kmc.runner import SignalFlag
    results = []
    with SignalFlag() as sig:
        def stop_flag():
            if sched.rank == 0:
                refresh()
            return sig.flag

        while not sig.flag:
            k = sched.fetch_add(NEXT)
            if k >= len(todo):
                break
            rep = todo[k]
            status, err = run_replica(rep, replica_dir(out, rep), stop_flag, sweep.name,
                                      retry=retry_failed, rank=sched.rank)
            results.append((rep.id, status, err))
            if status == "interrupted":
                break
            sched.fetch_add(DONE if status == "complete" else FAILED)
            if sched.rank == 0:
                refresh(force_read=True)
        sched.fetch_add(FINISHED)
        if sched.rank == 0:
            while sched.read()[FINISHED] < sched.size:
                refresh()
                time.sleep(0.05)
            refresh(force_read=True)
    if bar is not None:
        bar.close()
    gathered = sched.gather(results)
    sched.close()
    rc = None
    if sched.rank == 0:
        rc = _report(out, sweep, selection, todo, states, skip,
                     [r for part in gathered for r in part], array_task, array_count)
    return sched.bcast(rc)


def _report(out, sweep, selection, todo, states, skip, results, array_task, array_count):
    """Print the outcome (rank 0) and return the exit status."""
    before = {st: sum(states[r.id] == st for r in selection) for st in skip}
    now = {rid: (st, err) for rid, st, err in results}
    done_now = sum(st == "complete" for st, _ in now.values())
    failed_now = [(rid, err) for rid, (st, err) in now.items() if st == "failed"]
    interrupted = [rid for rid, (st, _) in now.items() if st == "interrupted"]
    not_started = [r.id for r in todo if r.id not in now]
    prev_failed = [
        (r.id, (_read_json(replica_dir(out, r) / STATUS) or {}).get("error", "failed"))
        for r in selection if "failed" in skip and states[r.id] == "failed"]
    n_complete = before.get("complete", 0) + done_now
    which = (f" (array task {array_task} of {array_count}: {len(selection)} of "
             f"{len(sweep.replicas)})" if array_count is not None else "")
    print(f"ensemble {sweep.name}: {len(selection)} replicas{which}: {n_complete} complete "
          f"({done_now} run now, {before.get('complete', 0)} already complete), "
          f"{len(failed_now) + len(prev_failed)} failed, {len(interrupted)} interrupted, "
          f"{len(not_started)} not started")
    for rid, err in sorted(failed_now):
        print(f"  failed: {rid}: {err}")
    if prev_failed:
        print("  failed in an earlier run (skipped; --retry-failed runs them again):")
    for rid, err in sorted(prev_failed):
        print(f"  failed: {rid}: {err}")
    if failed_now or prev_failed:
        print(f"  details: {out / REPLICAS}/<id>/{STATUS}")
    print(f"results: {out}")
    if interrupted or not_started:
        print(f"interrupted: {len(interrupted)} replicas checkpointed; run the same command "
              f"again to continue")
        return 130
    return 1 if failed_now or prev_failed else 0
