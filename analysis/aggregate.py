"""Collect an ensemble folder (``kmc ensemble``) into two tidy tables.

    kmc aggregate OUT [--figures]          (or: python analysis/aggregate.py OUT)

``OUT/aggregate.csv``: one row per finished replica x cycle: ``replica_id``, ``point``,
``seed_index``, ``replica_index``, ``seed``, ``condition`` (the point's varied values as
'key=value, ...'), one column per varied key (named by its config key, e.g.
``cell.stack_pressure_MPa``), then every scalar field of the replica's per-cycle record in
summary.json (``cycle``, ``ce`` as a fraction, ``contact_fraction_end_of_strip``,
``plated_mAh_cm2``, ``stripped_mAh_cm2``, ``dead_mAh_cm2``, ...).

``OUT/summary.csv``: one row per condition (point) x cycle: the point columns, ``cycle``,
``n`` (replicas) and for each of ``ce``, ``contact_fraction_end_of_strip``,
``stripped_mAh_cm2`` and ``dead_mAh_cm2``: ``_mean``, ``_std`` (sample standard deviation,
ddof = 1; empty for n = 1), ``_ci95_lo`` and ``_ci95_hi`` (95 % percentile bootstrap
confidence interval of the mean over replicas; resamples drawn from a fixed seed, so the file
is reproducible).

Only replicas whose summary.json is complete are used; failed and unfinished replicas are
counted and reported. Files are written atomically (kmc/io.py, which needs no build).
"""
import argparse
import csv
import io
import json
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from kmc.io import write_text_atomic  # noqa: E402  (pure Python: no engine build needed)

__all__ = ["aggregate", "bootstrap_ci", "load_plan", "read_csv", "METRICS", "AggregateError"]

METRICS = ("ce", "contact_fraction_end_of_strip", "stripped_mAh_cm2", "dead_mAh_cm2")
ID_COLUMNS = ("replica_id", "point", "seed_index", "replica_index", "seed", "condition")
BOOT_SEED = 20240601


class AggregateError(Exception):
    """OUT is not an ensemble folder."""


def load_plan(out) -> dict:
    """OUT/plan.json (written by ``kmc plan`` / ``kmc ensemble``)."""
    path = Path(out) / "plan.json"
    if not path.exists():
        raise AggregateError(f"{out}: no plan.json, not an ensemble folder "
                             f"(kmc ensemble SWEEP -o {out})")
    return json.loads(path.read_text())


def replica_folder(out, rid) -> Path:
    return Path(out) / "replicas" / rid


def bootstrap_ci(x, n_boot=10000, level=0.95, rng=None):
    """(lo, hi): percentile bootstrap confidence interval of the mean of x."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan")
    if x.size == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(BOOT_SEED) if rng is None else rng
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [a, 1.0 - a])
    return float(lo), float(hi)


def mean_ci(values):
    """(mean, ci_lo, ci_hi) of the numbers in values, None entries left out: the mean and
    its 95 % bootstrap confidence interval (nan when nothing is left)."""
    values = [v for v in values if v is not None]
    if not values:
        return (float("nan"),) * 3
    return (float(np.mean(values)), *bootstrap_ci(values))


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return v


def _csv_text(fields, rows) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: _fmt(r.get(k)) for k in fields})
    return buf.getvalue()


def read_csv(path) -> list:
    """Rows of a CSV written here as dicts (numbers parsed; empty cells become None)."""
    def parse(s):
        if s == "":
            return None
        for conv in (int, float):
            try:
                return conv(s)
            except ValueError:
                pass
        return s
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: parse(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def aggregate(out, n_boot=10000, level=0.95) -> dict:
    """Write OUT/aggregate.csv and OUT/summary.csv; return counts and paths."""
    out = Path(out)
    plan = load_plan(out)
    keys = [p["key"] for p in plan["parameters"]]
    labels = {pt["point"]: pt["label"] for pt in plan["points"]}
    rows, fields = [], []
    counts = {"complete": 0, "failed": 0, "unfinished": 0}
    missing = []
    for rep in sorted(plan["replicas"], key=lambda r: r["id"]):
        folder = replica_folder(out, rep["id"])
        status = {}
        if (folder / "status.json").exists():
            status = json.loads((folder / "status.json").read_text())
        summ_path = folder / "summary.json"
        summary = json.loads(summ_path.read_text()) if summ_path.exists() else {}
        if status.get("status") == "failed":
            counts["failed"] += 1
            continue
        if not summary.get("complete"):
            counts["unfinished"] += 1
            missing.append(rep["id"])
            continue
        counts["complete"] += 1
        base = {"replica_id": rep["id"], "point": rep["point"], "seed_index": rep["seed_index"],
                "replica_index": rep["index"], "seed": rep["seed"],
                "condition": labels[rep["point"]]}
        base.update({k: rep["overrides"][k] for k in keys})
        for rec in summary["cycles"]:
            row = dict(base)
            for k, v in rec.items():
                if isinstance(v, (list, dict)):
                    continue
                row[k] = v
                if k not in fields:
                    fields.append(k)
            rows.append(row)
    if "cycle" in fields:
        fields.remove("cycle")
    agg_fields = list(ID_COLUMNS) + keys + ["cycle"] + fields
    write_text_atomic(out / "aggregate.csv", _csv_text(agg_fields, rows))

    groups = {}
    for r in rows:
        groups.setdefault((r["point"], r["cycle"]), []).append(r)
    srows = []
    for (point, cycle), grp in sorted(groups.items()):
        pt = next(p for p in plan["points"] if p["point"] == point)
        row = {"point": point, "condition": labels[point], "cycle": cycle, "n": len(grp)}
        row.update({k: pt["overrides"][k] for k in keys})
        for m in METRICS:
            x = np.array([g[m] for g in grp if isinstance(g.get(m), (int, float))], dtype=float)
            x = x[np.isfinite(x)]
            if x.size == 0:
                continue
            rng = np.random.default_rng(np.random.SeedSequence(BOOT_SEED,
                                                               spawn_key=(point, cycle)))
            lo, hi = bootstrap_ci(x, n_boot, level, rng)
            row.update({f"{m}_mean": float(x.mean()),
                        f"{m}_std": float(x.std(ddof=1)) if x.size > 1 else None,
                        f"{m}_ci95_lo": lo, f"{m}_ci95_hi": hi})
        srows.append(row)
    sum_fields = ["point", "condition"] + keys + ["cycle", "n"] + \
        [f"{m}_{s}" for m in METRICS for s in ("mean", "std", "ci95_lo", "ci95_hi")]
    write_text_atomic(out / "summary.csv", _csv_text(sum_fields, srows))
    return {"replicas": len(plan["replicas"]), "rows": len(rows), "conditions": len(groups),
            "aggregate": out / "aggregate.csv", "summary": out / "summary.csv",
            "unfinished_ids": missing, **counts}


def main(out, figures=False, n_boot=10000) -> int:
    res = aggregate(out, n_boot=n_boot)
    print(f"aggregate {out}: {res['complete']} of {res['replicas']} replicas complete "
          f"({res['failed']} failed, {res['unfinished']} unfinished), {res['rows']} rows")
    print(f"  {res['aggregate']}")
    print(f"  {res['summary']}")
    if figures:
        from analysis.figures import make_figures
        paths = make_figures(out)
        for path in paths:
            print(f"  {path}")
        if not paths:
            print("  no figures: no replica has finished yet")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", metavar="OUT")
    ap.add_argument("--figures", action="store_true")
    ap.add_argument("--bootstrap", type=int, default=10000)
    a = ap.parse_args()
    try:
        sys.exit(main(Path(a.out), a.figures, a.bootstrap))
    except AggregateError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
