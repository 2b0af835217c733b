"""Sweep files: a base config, the parameters to vary, and the seeds per point.

A sweep is a TOML file::

    base = "../quickstart.toml"     # base run config, relative to this file (required)
    name = "demo"                   # label (default: the file name without .toml)
    seeds = 4                       # replicas per point (default 1)
    base_seed = 1                   # entropy of every replica seed (default: base run.seed)
    zip = [["protocol.current_density_mA_cm2", "protocol.strip_time_cap_h"]]

    [set]                           # fixed overrides for every replica
    protocol.cycles = 3

    [vary]                          # one list (or range) per key; crossed unless zipped
    seed.material = ["none", "Ag", "Au"]
    cell.stack_pressure_MPa = {start = 5.0, stop = 15.0, num = 3}
    protocol.current_density_mA_cm2 = [0.25, 0.5, 1.0]
    protocol.strip_time_cap_h = [4.0, 2.0, 1.0]

A range is ``{start, stop, num}`` (``num`` evenly spaced values from start to stop, both
included; ``log = true`` spaces them geometrically) or ``{start, stop, step}`` (start,
start + step, ... up to stop included). The keys of [vary] are crossed (every combination,
the first key varying slowest); each ``zip`` group is varied together, element by element,
as one factor at the position of its first key. Every combination is a point; every point
gets ``seeds`` replicas. TOML merges the dotted keys of one section into one table, so the
keys are taken section by section (sections in order of first appearance, keys in written
order).

Replicas. The replicas are numbered seed-major: replica index ``i = s * n_points + p`` for
seed number ``s`` and point ``p``, so raising ``seeds`` later only adds replicas. A replica's
``run.seed`` is the first 63 bits of ``SeedSequence(base_seed, spawn_key=(i,))`` (see
``replica_seed``): independent streams, fixed by the sweep alone (never by MPI rank or array
task). Its id is ``p{p:03d}_s{s:02d}_{hash}``, where ``hash`` is 8 hex digits of the sha256 of
the point's varied values, so a folder name changes whenever its point does. ``run.name`` is
set to the id; ``run.seed`` cannot be set or varied (use ``base_seed``).

Errors are ``kmc.config.ConfigError`` with the key path inside the sweep (``vary.cell.
stack_pressure_MPa``, ``zip[0]``, ...), raised before anything is written.
"""
import hashlib
import itertools
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kmc.config import ConfigError, config_hash, load_config, set_key, validate
from kmc.schema import KEY_BY_PATH

__all__ = ["Sweep", "Replica", "load_sweep", "replica_seed", "assign_tasks", "TOP_KEYS"]

TOP_KEYS = ("base", "name", "seeds", "base_seed", "set", "vary", "zip")
RANGE_KEYS = ("start", "stop", "num", "step", "log")
MAX_SEED = 2**63 - 1


def replica_seed(base_seed: int, index: int) -> int:
    """run.seed of replica ``index``: 63 bits of SeedSequence(base_seed, spawn_key=(index,))."""
    state = np.random.SeedSequence(base_seed, spawn_key=(index,)).generate_state(1, np.uint64)
    return int(state[0]) >> 1


@dataclass
class Replica:
    """One unit of work: a point of the sweep with one seed."""
    id: str
    index: int            # seed-major replica index (the SeedSequence spawn key)
    point: int
    seed_index: int
    seed: int             # run.seed of this replica
    overrides: dict       # the point's varied values {key: value}
    cfg: dict = field(repr=False)   # resolved config
    config_hash: str = ""
    cost: float = 0.0     # estimated work (plated voxels x cycles)

    def record(self) -> dict:
        """The replica as stored in plan.json / replica.json."""
        return {"id": self.id, "index": self.index, "point": self.point,
                "seed_index": self.seed_index, "seed": self.seed,
                "overrides": self.overrides, "config_hash": self.config_hash,
                "cost": self.cost}


@dataclass
class Sweep:
    path: Path
    name: str
    base: Path
    base_seed: int
    seeds: int
    fixed: dict           # [set] {key: value}
    params: list          # [(key, [values])] in [vary] order
    zips: list            # [[key, ...]]
    points: list          # [{key: value}] (normalised values)
    replicas: list        # [Replica] in index order

    def parameters(self) -> list:
        """[{key, unit, kind, values}] of the varied keys (for plan.json and analysis/)."""
        out = []
        for key, _ in self.params:
            k = KEY_BY_PATH[key]
            vals = []
            for pt in self.points:
                if pt[key] not in vals:
                    vals.append(pt[key])
            out.append({"key": key, "unit": k.unit, "kind": k.kind, "values": vals})
        return out

    def plan_record(self) -> dict:
        """Content of OUT/plan.json."""
        return {"sweep": self.name, "sweep_file": str(self.path), "base": str(self.base),
                "base_seed": self.base_seed, "seeds": self.seeds, "set": self.fixed,
                "parameters": self.parameters(), "zip": self.zips,
                "points": [{"point": p, "overrides": pt, "label": point_label(pt)}
                           for p, pt in enumerate(self.points)],
                "replicas": [r.record() for r in self.replicas]}


def point_label(point: dict) -> str:
    """'key=value, key=value' (empty point: 'base')."""
    if not point:
        return "base"
    return ", ".join(f"{k}={v}" for k, v in point.items())


def _point_hash(point: dict) -> str:
    text = json.dumps(sorted(point.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def _is_scalar(v) -> bool:
    return isinstance(v, (bool, int, float, str))


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _toml_text(v) -> str:
    """An override value as TOML text for kmc.config.load_config."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
    return repr(v)


def _clean(x: float) -> float:
    """A generated float rounded to 12 significant digits (0.30000000000000004 -> 0.3)."""
    return float(f"{x:.12g}")


def _flatten(table, section: str) -> dict:
    """{dotted key: value} of a [set] or [vary] table written with dotted or nested keys."""
    if not isinstance(table, dict):
        raise ConfigError(section, "must be a table", table)
    flat = {}
    for top, val in table.items():
        if "." in top:                          # quoted "cell.stack_pressure_MPa" = ...
            flat[top] = val
        elif isinstance(val, dict):
            for name, v in val.items():
                flat[f"{top}.{name}"] = v
        else:
            raise ConfigError(f"{section}.{top}", "expected a config key such as "
                              "cell.stack_pressure_MPa", val)
    for key, val in flat.items():
        if key == "run.seed":
            raise ConfigError(f"{section}.{key}", "replica seeds come from base_seed and "
                              "seeds; run.seed cannot be set here", val)
        if key not in KEY_BY_PATH:
            raise ConfigError(f"{section}.{key}", "unknown config key", val)
    return flat


def _expand_range(where: str, spec: dict) -> list:
    for k in spec:
        if k not in RANGE_KEYS:
            raise ConfigError(f"{where}.{k}", "unknown range key (expected start, stop and "
                              "num or step, optional log)", spec[k])
    for k in ("start", "stop"):
        if k not in spec:
            raise ConfigError(f"{where}.{k}", "required in a range table", None)
        if not _is_number(spec[k]) or not math.isfinite(spec[k]):
            raise ConfigError(f"{where}.{k}", "must be a finite number", spec[k])
    start, stop = spec["start"], spec["stop"]
    if ("num" in spec) == ("step" in spec):
        raise ConfigError(where, "a range needs exactly one of num or step", spec)
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}.log", "must be true or false", log)
    if "num" in spec:
        num = spec["num"]
        if not isinstance(num, int) or isinstance(num, bool) or not 1 <= num <= 100000:
            raise ConfigError(f"{where}.num", "must be an integer in [1, 100000]", num)
        if log:
            if start <= 0 or stop <= 0:
                raise ConfigError(where, "log = true needs start > 0 and stop > 0", spec)
            vals = np.geomspace(start, stop, num) if num > 1 else np.array([start])
        else:
            vals = np.linspace(start, stop, num) if num > 1 else np.array([start])
        out = [_clean(float(v)) for v in vals]
        if all(isinstance(spec[k], int) for k in ("start", "stop")) and \
                all(v == int(v) for v in out):
            out = [int(v) for v in out]
        return out
    if log:
        raise ConfigError(f"{where}.log", "log = true needs num, not step", log)
    step = spec["step"]
    if not _is_number(step) or not math.isfinite(step) or step == 0 or \
            (stop - start) * step < 0:
        raise ConfigError(f"{where}.step", "must be a non-zero number leading from start "
                          "to stop", step)
    n = math.floor((stop - start) / step + 1e-9) + 1
    if n > 100000:
        raise ConfigError(f"{where}.step", "gives more than 100000 values", step)
    if all(isinstance(spec[k], int) for k in ("start", "stop", "step")):
        return [start + k * step for k in range(n)]
    return [_clean(start + k * step) for k in range(n)]


def _values(key: str, spec) -> list:
    where = f"vary.{key}"
    if isinstance(spec, dict):
        vals = _expand_range(where, spec)
    elif isinstance(spec, list):
        vals = spec
    else:
        raise ConfigError(where, "must be a list of values or a range table "
                          "{start, stop, num | step}", spec)
    if not vals:
        raise ConfigError(where, "must list at least one value", vals)
    for v in vals:
        if not _is_scalar(v):
            raise ConfigError(where, "values must be numbers, strings or booleans", v)
    for i, v in enumerate(vals):
        if v in vals[:i]:
            raise ConfigError(where, "lists a value twice", v)
    return list(vals)


def _read_toml(path: Path) -> dict:
    p = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(p, "file not found", p) from None
    except OSError as e:
        raise ConfigError(p, f"cannot read file: {e.strerror}", p) from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(p, f"not UTF-8 text: {e.reason} at byte {e.start}", p) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(p, f"invalid TOML: {e}", path.name) from None


def _int_key(raw: dict, key: str, default, lo: int, hi: int) -> int:
    v = raw.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError(key, f"must be an integer in [{lo}, {hi}]", v)
    return v


def _cost(cfg: dict) -> float:
    """Estimated work of a run: voxels plated per cycle x cycles (a proxy for wall time)."""
    from kmc.rates import Units, lattice_shape
    units = Units(cfg)
    nx, ny = lattice_shape(cfg, units)[:2]
    per_cycle = cfg["protocol"]["plate_capacity_mAh_cm2"] / units.mAh_cm2_per_layer * nx * ny
    return float(per_cycle * cfg["protocol"]["cycles"])


def load_sweep(path) -> Sweep:
    """Parse and validate a sweep file and expand it into its replicas (nothing is written)."""
    path = Path(path)
    raw = _read_toml(path)
    for key in raw:
        if key not in TOP_KEYS:
            raise ConfigError(key, "unknown sweep key (expected " + ", ".join(TOP_KEYS) + ")",
                              raw[key])
    if "base" not in raw:
        raise ConfigError("base", "required: the base run config, relative to the sweep file")
    if not isinstance(raw["base"], str) or not raw["base"]:
        raise ConfigError("base", "must be a file name", raw["base"])
    base = Path(raw["base"])
    if not base.is_absolute():
        base = Path(os.path.normpath(path.parent / base))
    if not base.is_file():
        raise ConfigError("base", "file not found", raw["base"])
    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise ConfigError("name", "must be a non-empty string", name)
    seeds = _int_key(raw, "seeds", 1, 1, 100000)

    fixed = _flatten(raw.get("set", {}), "set")
    for key, v in fixed.items():
        if not _is_scalar(v):
            raise ConfigError(f"set.{key}", "must be a number, string or boolean", v)
    vary_flat = _flatten(raw.get("vary", {}), "vary")
    params = []
    for key, spec in vary_flat.items():
        if key in fixed:
            raise ConfigError(f"vary.{key}", "is also given in [set]", spec)
        params.append((key, _values(key, spec)))
    values = dict(params)

    zips = raw.get("zip", [])
    if not isinstance(zips, list) or not all(isinstance(g, list) for g in zips):
        raise ConfigError("zip", "must be a list of lists of [vary] keys", zips)
    zipped = {}
    for gi, group in enumerate(zips):
        if not group:
            raise ConfigError(f"zip[{gi}]", "must name at least one [vary] key", group)
        for ki, key in enumerate(group):
            if not isinstance(key, str) or key not in values:
                raise ConfigError(f"zip[{gi}][{ki}]", "not a key of [vary]", key)
            if key in zipped:
                raise ConfigError(f"zip[{gi}][{ki}]", f"already zipped in zip[{zipped[key]}]",
                                  key)
            zipped[key] = gi
        lengths = {len(values[k]) for k in group}
        if len(lengths) > 1:
            raise ConfigError(f"zip[{gi}]", "zipped lists must have the same length",
                              ", ".join(f"{k}: {len(values[k])}" for k in group))

    # factors in [vary] order: a single key, or a zip group at its first key
    factors, placed = [], set()
    for key, _ in params:
        if key in zipped:
            gi = zipped[key]
            if gi in placed:
                continue
            placed.add(gi)
            group = zips[gi]
            factors.append([dict(zip(group, combo))
                            for combo in zip(*(values[k] for k in group))])
        else:
            factors.append([{key: v} for v in values[key]])
    order = [key for key, _ in params]
    raw_points = []
    for combo in itertools.product(*factors):
        pt = {}
        for part in combo:
            pt.update(part)
        raw_points.append({k: pt[k] for k in order})

    # validate each point through the base config (+ [set] + point) and normalise its values
    base_overrides = [f"{k}={_toml_text(v)}" for k, v in fixed.items()]
    try:
        base_cfg = load_config(base, base_overrides)
    except ConfigError as err:
        if err.key in fixed:
            raise ConfigError(f"set.{err.key}", err.problem, err.got) from None
        if err.key == str(base):
            raise ConfigError("base", f"{err.problem} in {base}", err.got) from None
        raise ConfigError(err.key, f"{err.problem} in base config {raw['base']}",
                          err.got) from None
    base_seed = _int_key(raw, "base_seed", base_cfg["run"]["seed"], 0, MAX_SEED)

    points, cfgs = [], []
    for pt in raw_points:
        try:
            cfg = load_config(base, base_overrides +
                              [f"{k}={_toml_text(v)}" for k, v in pt.items()])
        except ConfigError as err:
            if err.key in pt:
                raise ConfigError(f"vary.{err.key}", err.problem, err.got) from None
            if err.key in fixed:
                raise ConfigError(f"set.{err.key}", err.problem, err.got) from None
            raise ConfigError(err.key, f"{err.problem} at point {point_label(pt)}",
                              err.got) from None
        norm = {}
        for k in pt:
            sec, nm = k.split(".", 1)
            norm[k] = cfg[sec][nm]
        points.append(norm)
        cfgs.append(cfg)
    seen = {}
    for p, pt in enumerate(points):
        h = _point_hash(pt)
        if h in seen:
            raise ConfigError("vary", f"points {seen[h]} and {p} are the same point",
                              point_label(pt))
        seen[h] = p

    npts = len(points)
    replicas = []
    for s in range(seeds):
        for p, (pt, cfg) in enumerate(zip(points, cfgs)):
            index = s * npts + p
            rid = f"p{p:03d}_s{s:02d}_{_point_hash(pt)}"
            seed = replica_seed(base_seed, index)
            rcfg = set_key(set_key(json.loads(json.dumps(cfg)), "run.seed", seed),
                           "run.name", rid)
            rcfg = validate(rcfg)
            replicas.append(Replica(id=rid, index=index, point=p, seed_index=s, seed=seed,
                                    overrides=pt, cfg=rcfg, config_hash=config_hash(rcfg),
                                    cost=_cost(rcfg)))
    fixed_norm = {}
    for k in fixed:
        sec, nm = k.split(".", 1)
        fixed_norm[k] = base_cfg[sec][nm]
    return Sweep(path=path, name=name, base=base, base_seed=base_seed, seeds=seeds,
                 fixed=fixed_norm,
                 params=params, zips=[list(g) for g in zips], points=points,
                 replicas=replicas)


def assign_tasks(replicas, count: int) -> list:
    """Split replicas into ``count`` array tasks of about equal estimated cost.

    Greedy longest-first: replicas in descending cost (ties by index) each go to the task
    with the least cost so far; among equally loaded tasks, to the one with the fewest
    replicas of the same point (so that a point whose true cost the estimate misses is spread
    over the tasks), then the lowest task. Depends only on the plan. Returns a list of
    ``count`` lists of replicas.
    """
    tasks = [[] for _ in range(count)]
    load = [0.0] * count
    same = [{} for _ in range(count)]
    for r in sorted(replicas, key=lambda r: (-r.cost, r.index)):
        k = min(range(count), key=lambda t: (load[t], same[t].get(r.point, 0), t))
        tasks[k].append(r)
        load[k] += r.cost
        same[k][r.point] = same[k].get(r.point, 0) + 1
    return tasks
