"""Figures for paper 001 (bare Cu vs 100 nm Ag and Au seed layers) from result folders.

    python analysis/paper001.py [RESULTS] [-o OUT]

RESULTS holds cu/, ag/, au/ (each with seedNN run folders, as analysis/validation.py writes
them; default results/paper001). Writes OUT/paper001.png and .pdf (default RESULTS):
(a) CE vs cycle per collector, mean and 95 % bootstrap band over seeds; (b) first-cycle
voltage curves (nucleation dip on Cu, alloy plateaus at the end of the strip); (c) x-z
cross-sections after the first plating; (d) contact fraction through the first and fifth
strip.
"""
import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from analysis.aggregate import bootstrap_ci  # noqa: E402
from analysis.load import load_run, load_snapshot  # noqa: E402
from analysis.plot_run import PHASE_STYLE, panel_section, save_figure  # noqa: E402

CONDITIONS = (("cu", "bare Cu", "#b87333"), ("ag", "100 nm Ag", "#7f7f7f"),
              ("au", "100 nm Au", "#d4a017"))


def runs_of(results, cond):
    folders = sorted((results / cond).glob("seed*"))
    return [load_run(f) for f in folders if (f / "summary.json").exists()]


def band(values_per_seed):
    """Mean and 95 % bootstrap band over seeds, per cycle (cut to the shortest run)."""
    n = min(len(v) for v in values_per_seed)
    x = np.array([v[:n] for v in values_per_seed])
    ci = np.array([bootstrap_ci(x[:, i]) for i in range(n)])
    return x.mean(axis=0), ci[:, 0], ci[:, 1]


def half_rows(ts, cycle, half):
    m = (ts["cycle"] == cycle) & (ts["half"] == half)
    return {k: v[m] for k, v in ts.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="?", type=Path, default=Path("results/paper001"))
    ap.add_argument("-o", "--out", type=Path, default=None)
    args = ap.parse_args(argv)
    out = args.out or args.results
    runs = {c: runs_of(args.results, c) for c, _, _ in CONDITIONS}
    if not any(runs.values()):
        print(f"no finished runs under {args.results}", file=sys.stderr)
        return 2
    fig = plt.figure(figsize=(11, 8.5), constrained_layout=True)
    gs = fig.add_gridspec(3, 3)
    ax_ce, ax_v, ax_c = fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1:]), fig.add_subplot(gs[1, :])
    for cond, label, color in CONDITIONS:
        rs = runs[cond]
        if not rs:
            continue
        ce = [[100 * c["ce"] for c in r["summary"]["cycles"]] for r in rs]
        mean, lo, hi = band(ce)
        cyc = np.arange(1, len(mean) + 1)
        ax_ce.plot(cyc, mean, "o-", color=color, label=f"{label} (n={len(rs)})")
        ax_ce.fill_between(cyc, lo, hi, color=color, alpha=0.25, lw=0)
        ts = rs[0]["timeseries"]
        for half in ("plate", "strip"):
            h = half_rows(ts, 1, half)
            ax_v.plot(h["half_charge_mAh_cm2"] if half == "plate" else
                      1.0 + h["half_charge_mAh_cm2"], 1000 * h["voltage_V"], color=color,
                      label=label if half == "plate" else None)
        t0 = None
        for cyc_no, style in ((1, "-"), (5, "--")):
            h = half_rows(ts, cyc_no, "strip")
            if len(h["t_s"]) == 0:
                continue
            t0 = h["t_s"][0]
            ax_c.plot((h["t_s"] - t0) / 3600, h["contact_fraction"], style, color=color,
                      label=f"{label}, strip {cyc_no}")
    ax_ce.set(xlabel="cycle", ylabel="Coulombic efficiency (%)", title="(a) CE per cycle")
    ax_ce.ticklabel_format(axis="y", useOffset=False)
    ax_ce.legend(fontsize=8)
    ax_v.set(xlabel="charge through the cycle (mAh/cm$^2$): plate 0-1, strip 1-2",
             ylabel="voltage (mV vs Li/Li$^+$)", title="(b) first cycle")
    ax_v.set_ylim(-60, 250)
    ax_v.axhline(0, color="k", lw=0.5)
    ax_v.legend(fontsize=8)
    ax_c.set(xlabel="time into the strip (h)", ylabel="contact fraction",
             title="(d) contact through the 1st (solid) and 5th (dashed) strip")
    ax_c.legend(fontsize=8, ncol=3)
    cmap = ListedColormap([PHASE_STYLE[k][1] for k in sorted(PHASE_STYLE)])
    for i, (cond, label, _) in enumerate(CONDITIONS):
        ax = fig.add_subplot(gs[2, i])
        snap = None
        if runs[cond]:
            hits = sorted((runs[cond][0]["folder"] / "snapshots").glob("cycle0001_plate_end.npz"))
            snap = load_snapshot(hits[0]) if hits else None
        panel_section(ax, snap, f"(c) {label}, after 1st plating", 8.0, cmap)
    save_figure(fig, out / "paper001.png", dpi=150)
    print(f"wrote {out / 'paper001.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
