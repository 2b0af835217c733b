"""Paper-004 validation rows: stripped capacity vs stack pressure and Na content.

    python analysis/validation004.py [RESULTS] [--out docs/validation.md]

RESULTS (default results/paper004) holds the ensemble of runs/sweeps/paper004.toml
(`kmc ensemble runs/sweeps/paper004.toml -o results/paper004`). The acceptance checks of
issue 4 are evaluated on the means over seeds and written as the "paper 004" section of OUT
(its other sections are kept).
"""
import argparse
import sys
import tomllib
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from analysis.aggregate import mean_ci  # noqa: E402
from analysis.paper004 import collect  # noqa: E402
from analysis.report import replace_section  # noqa: E402

SECTION = "# Validation against paper 004"
EXHAUSTED_RESIDUAL = 0.05    # a run with < 5 % of its starting metal left ran out of metal


def stats(values):
    """(mean, ci_lo, ci_hi, n) of a list of numbers (nan when empty)."""
    return (*mean_ci(values), len(values))


def fmt(s, digits=2):
    mean, lo, hi, n = s
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}] (n={n})"


def exhausted(rec):
    """The strip ended because the electrode ran out of metal."""
    summ = rec["run"]["summary"]
    inv = summ["inventory"]
    return inv["active"] < EXHAUSTED_RESIDUAL * max(inv["initial"], 1)


def voltage_at(rec, q_mAh_cm2):
    """Voltage (V) of the first strip once q was stripped; the run's last finite voltage
    (its cutoff) if it ended before q."""
    ts = rec["run"]["timeseries"]
    m = (ts["cycle"] == 1) & (ts["half"] == "strip") & np.isfinite(ts["voltage_V"])
    q, v = ts["half_charge_mAh_cm2"][m], ts["voltage_V"][m]
    if len(q) == 0:
        return float("nan")
    if q[-1] < q_mAh_cm2:
        return float(v[-1])
    return float(np.interp(q_mAh_cm2, q, v))


def coverage_curve(recs, step_um=1.0):
    """Mean Na coverage of the interface vs stripped depth (um) over the runs' first strips,
    on a common grid up to the shallowest run's end."""
    curves = []
    for r in recs:
        ts = r["run"]["timeseries"]
        m = (ts["cycle"] == 1) & (ts["half"] == "strip")
        curves.append((ts["stripped_depth_um"][m], ts["contact_soft"][m]))
    end = min(d[-1] for d, _ in curves if len(d))
    grid = np.arange(0.0, end + 1e-9, step_um)
    return grid, np.mean([np.interp(grid, d, c) for d, c in curves], axis=0)


def table(results):
    recs = collect(results)
    if not recs:
        raise SystemExit(f"error: no complete runs under {results}")
    by = {}
    for r in recs:
        by.setdefault((r["na_mol_percent"], r["pressure_MPa"]), []).append(r)

    def cap(na, p):
        return stats([r["stripped_mAh_cm2"] for r in by.get((na, p), [])])

    rows = []

    def row(target, paper, sim, ok):
        rows.append(f"| {target} | {paper} | {sim} | {'pass' if ok else 'FAIL'} |")

    pressures = sorted({p for _, p in by})
    li = {p: cap(0.0, p) for p in pressures}
    row("pure Li, 0 MPa (mAh/cm2) [bond energy chosen in its range]", "0.4 (target 0.2-0.8)",
        fmt(li.get(0.0, stats([]))), 0.2 <= li.get(0.0, stats([]))[0] <= 0.8)
    row("pure Li, 0.8 MPa (mAh/cm2) [calibrated]", "2.2 (target 1.1-4.4)",
        fmt(li.get(0.8, stats([]))), 1.1 <= li.get(0.8, stats([]))[0] <= 4.4)
    hi = by.get((0.0, 3.2), [])
    hi_ok = bool(hi) and (li[3.2][0] >= 15 or all(exhausted(r) for r in hi))
    row("pure Li, 3.2 MPa (mAh/cm2)", "~30 (target >= 15 or electrode exhausted)",
        fmt(li.get(3.2, stats([]))) + (" exhausted" if hi and all(map(exhausted, hi)) else ""),
        hi_ok)
    means = [li[p][0] for p in pressures]
    row("pure Li capacity rises with pressure", "0.4 < 2.2 < ~30",
        " < ".join(f"{m:.2f}" for m in means) + f" at {', '.join(f'{p:g}' for p in pressures)} MPa",
        all(b > a for a, b in zip(means, means[1:])))
    na5 = cap(5.0, 0.8)
    row("5 % Na vs pure Li at 0.8 MPa", "16 vs 2.2 (target >= 3x)",
        f"{fmt(na5)} vs {li[0.8][0]:.2f}: {na5[0] / li[0.8][0]:.1f}x", na5[0] >= 3 * li[0.8][0])
    na20 = {p: cap(20.0, p) for p in pressures}
    row("20 % Na vs pure Li at 0 MPa", "5.3 vs 0.4 (target >= 5x)",
        f"{fmt(na20[0.0])} vs {li[0.0][0]:.2f}: {na20[0.0][0] / li[0.0][0]:.1f}x",
        na20[0.0][0] >= 5 * li[0.0][0])
    flat20 = max(s[0] for s in na20.values()) / min(s[0] for s in na20.values())
    flat_li = max(means) / min(means)
    row("20 % Na flatter than pure Li (max/min over pressure)", "nearly pressure-independent "
        "(target <= 2 and < pure Li)", f"{flat20:.1f} vs {flat_li:.1f}",
        flat20 <= 2 and flat20 < flat_li)
    for na in sorted({n for n, _ in by if n > 0}):
        rs = by.get((na, 1.6), []) or by.get((na, 0.8), [])
        if not rs:
            continue
        grid, cov = coverage_curve(rs)
        ok = bool(len(cov) > 1) and (cov >= np.maximum.accumulate(cov) - 0.05).all() \
            and cov[-1] > cov[0]
        row(f"{na:g} % Na coverage rises with stripped depth (first strip, "
            f"{rs[0]['pressure_MPa']:g} MPa)", "rises steadily",
            f"{cov[0]:.2f} at 0 um -> {cov[-1]:.2f} at {grid[-1]:.0f} um", ok)
    v = {na: stats([voltage_at(r, 5.0) for r in by.get((na, 1.6), [])]) for na in (0.0, 10.0)}
    row("voltage after 5 mAh/cm2 at 1.6 MPa (V): 10 % Na < pure Li", "0.041 < 0.063",
        f"{fmt(v[10.0], 3)} vs {fmt(v[0.0], 3)}", v[10.0][0] < v[0.0][0])
    cfg_dir = Path(__file__).resolve().parent.parent / "runs"
    mats = {p.name: tomllib.loads(p.read_text())["cell"].get("materials")
            for p in sorted(cfg_dir.glob("paper00[14]_*.toml"))}
    row("one Li/LPSC parameter file for papers 001 and 004", "li_lpsc",
        ", ".join(sorted(set(map(str, mats.values())))), set(mats.values()) == {"li_lpsc"})
    cond = ", ".join(f"{na:g} % Na / {p:g} MPa: n={len(rs)}" for (na, p), rs in sorted(by.items()))
    head = [SECTION + " (Li and Li/Na electrodes, Li6PS5Cl)", "",
            "Generated by `python analysis/validation004.py` from the ensemble of "
            "`runs/sweeps/paper004.toml` (runs/paper004_na*.toml: 2D cross-sections, 128 um "
            "wide, 80 um electrode, 1 um voxels; 0.25 mA/cm2 to 0.15 V); do not edit by hand. "
            "Simulated values: mean [95 % bootstrap CI] over seeds. Replicas: " + cond + ".", "",
            "| target | paper | simulated | status |", "|---|---|---|---|"]
    return "\n".join(head + rows) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="?", type=Path, default=Path("results/paper004"))
    ap.add_argument("--out", type=Path, default=Path("docs/validation.md"))
    args = ap.parse_args(argv)
    text = table(args.results)
    replace_section(args.out, SECTION, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
