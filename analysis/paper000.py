"""Figure and table for paper 000 (Na anode-free half cells: collector, electrolyte, pressure,
capacity) and the interphase thickness of paper 003.

    python analysis/paper000.py [RESULTS] [-o OUT]

RESULTS (default results/paper000, as analysis/validation000.py writes it) holds one folder
per condition (al_pellet, al_foil, cu_pellet, ti_pellet, al_foil_nps, al_pellet_p5/_p15/_p20,
al_pellet_40C_p1/_p5/_p10, al_pellet_q1/_q7, p003_nbh/_nps/_nyzc), each with seedNN run
folders; only complete runs are used. Prints one line per condition (see table()) and writes
OUT/paper000.png and .pdf (OUT defaults to RESULTS):
(a) initial Coulombic efficiency (ICE) per collector and electrolyte, mean and 95 % bootstrap
CI over seeds, with 000's measured ICE as open markers; (b) capacity retention vs cycle of
the Al, Cu and Ti pellets, and the Na trapped in the pellet pores at the end of each cycle;
(c) first-cycle CE vs stack pressure at RT and 40 C; (d) x-z sections of Al foil and Cu
pellet at the end of the first strip; (e) interphase thickness vs time on NBH, NPS and NYZC
with 003's thickness after one cycle; (f) ICE vs plated capacity. A condition without runs
is left out of its panel (a panel without any says 'no data'). Exits 2 with ``error: ...``
when RESULTS holds no complete run.
"""
import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from analysis.aggregate import bootstrap_ci  # noqa: E402
from analysis.load import PHASES, load_run, load_snapshot  # noqa: E402
from analysis.plot_run import (ALWAYS_IN_LEGEND, PHASE_STYLE, _find, _no_data,  # noqa: E402
                               _note_scale, _top_um, _xz, panel_section, save_figure)

__all__ = ["collect", "ice", "retention", "interphase_curve", "table", "make_figure", "main",
           "CONDITIONS", "EXPERIMENT_ICE", "EXPERIMENT_INTERPHASE_UM"]

# (a) bars: condition, label
ICE_BARS = (("al_pellet", "Al pellet\nNBH"), ("al_foil", "Al foil\nNBH"),
            ("cu_pellet", "Cu pellet\nNBH"), ("ti_pellet", "Ti pellet\nNBH"),
            ("al_foil_nps", "Al foil\nNPS"))
PELLETS = (("al_pellet", "Al pellet"), ("cu_pellet", "Cu pellet"), ("ti_pellet", "Ti pellet"))
# (c) series label -> conditions (x: cell.stack_pressure_MPa of the runs)
PRESSURE_SERIES = (("RT", ("al_pellet_p5", "al_pellet", "al_pellet_p15", "al_pellet_p20")),
                   ("40 C", ("al_pellet_40C_p1", "al_pellet_40C_p5", "al_pellet_40C_p10")))
CAPACITY_SERIES = ("al_pellet_q1", "al_pellet", "al_pellet_q7")   # x: plate capacity
SECTIONS = (("al_foil", "Al foil"), ("cu_pellet", "Cu pellet"))
ELECTROLYTES = (("p003_nbh", "NBH"), ("p003_nps", "NPS"), ("p003_nyzc", "NYZC"))
CONDITIONS = tuple(dict.fromkeys(
    [c for c, _ in ICE_BARS] + [c for _, cs in PRESSURE_SERIES for c in cs]
    + list(CAPACITY_SERIES) + [c for c, _ in ELECTROLYTES]))   # table order

EXPERIMENT_ICE = {"al_pellet": 93.0, "al_foil": 64.0, "al_foil_nps": 4.0}     # % (000)
EXPERIMENT_INTERPHASE_UM = {"p003_nbh": 0.0, "p003_nps": 10.0, "p003_nyzc": 90.0}  # 003
COLORS = {"al_pellet": "#4c72b0", "al_foil": "#8fb3d9", "cu_pellet": "#b87333",
          "ti_pellet": "#7f7f7f", "al_foil_nps": "#c44e52", "RT": "#4c72b0", "40 C": "#dd8452",
          "p003_nbh": "#4c72b0", "p003_nps": "#c44e52", "p003_nyzc": "#55a868"}
EXP_MARKER = dict(marker="D", ls="none", mfc="none", mec="k", mew=1.3, ms=8)


def collect(results) -> dict:
    """{condition: [load_run(folder), ...]} over RESULTS/<condition>/seed*/ folders, keeping
    only complete runs with at least one cycle; conditions without any are left out."""
    data = {}
    root = Path(results)
    for cond in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        runs = []
        for folder in sorted(cond.glob("seed*")):
            if not ((folder / "config.toml").exists() and (folder / "summary.json").exists()):
                continue
            run = load_run(folder)
            if run["summary"].get("complete") and run["summary"].get("cycles"):
                runs.append(run)
        if runs:
            data[cond.name] = runs
    return data


def _cycle_matrix(runs, key):
    """(seeds, cycles) float array of the per-cycle summary field `key` (None or absent: nan),
    cut to the shortest run."""
    rows = [[np.nan if c.get(key) is None else float(c[key]) for c in r["summary"]["cycles"]]
            for r in runs]
    n = min((len(r) for r in rows), default=0)
    return np.array([r[:n] for r in rows], dtype=float).reshape(len(rows), n)


def _stats(x):
    """mean, 95 % bootstrap CI (lo, hi) and n over the finite values of the 1D array x."""
    x = np.asarray(x, dtype=float)
    fin = x[np.isfinite(x)]
    lo, hi = bootstrap_ci(fin)
    return {"values": x, "n": int(fin.size), "mean": float(fin.mean()) if fin.size else np.nan,
            "lo": lo, "hi": hi}


def _band(x):
    """Per-column _stats of a (seeds, cycles) array as arrays: mean, lo, hi."""
    s = [_stats(col) for col in x.T]
    return {k: np.array([c[k] for c in s]) for k in ("mean", "lo", "hi")}


def ice(runs) -> dict:
    """Initial Coulombic efficiency (%, first-cycle ce x 100) per seed ('values') and its mean,
    95 % bootstrap CI ('lo', 'hi') and n over seeds."""
    x = _cycle_matrix(runs, "ce")
    return _stats(100.0 * x[:, 0] if x.shape[1] else [])


def retention(runs) -> dict:
    """Capacity retention (% of the first plating) after each cycle: per seed the cumulative
    product of the cycle CEs (each cycle re-plates what the last one stripped); a cycle that
    plated nothing (ce null) retains nothing. Keys: cycle (1..N, N = shortest run), values
    (seeds, N), mean, lo, hi (95 % bootstrap CI over seeds, per cycle), n (seeds)."""
    ce = np.nan_to_num(_cycle_matrix(runs, "ce"), nan=0.0)
    x = 100.0 * np.cumprod(ce, axis=1)
    return {"cycle": np.arange(1, x.shape[1] + 1), "values": x, "n": x.shape[0], **_band(x)}


def _mean_first_cycle(runs, key):
    """Mean over seeds of the first cycle's `key` (nan if absent)."""
    return _stats(_cycle_matrix(runs, key)[:, 0])["mean"]


def interphase_curve(run):
    """(t_h, thickness_um) of one run, sorted by time (h): the mean interphase thickness
    (INTERPHASE voxels per (y, x) column x voxel_um) of each snapshot at its t_s, and the
    per-cycle interphase_thickness_um of summary.json at the end of each strip (last
    time-series row of that strip), starting from 0 at the first time-series row (anode-free:
    no Na to react before the first plating)."""
    pts = {}
    ts = run["timeseries"]
    if ts and len(ts["t_s"]):
        pts[float(ts["t_s"][0])] = 0.0
        for c in run["summary"]["cycles"]:
            m = (ts["cycle"] == c["cycle"]) & (ts["half"] == "strip")
            if m.any() and c.get("interphase_thickness_um") is not None:
                pts[float(ts["t_s"][m][-1])] = float(c["interphase_thickness_um"])
    for path in run["snapshots"]:
        s = load_snapshot(path)
        st = s["state"]
        pts[s["t_s"]] = np.count_nonzero(st == PHASES["INTERPHASE"]) / (
            st.shape[1] * st.shape[2]) * s["voxel_um"]
    t = np.array(sorted(pts))
    return t / 3600.0, np.array([pts[k] for k in sorted(pts)])


def _config_value(run, dotted):
    """Float value of a dotted config key (e.g. 'cell.stack_pressure_MPa'); nan if absent."""
    node = run["config"]
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return np.nan
        node = node[key]
    return float(node)


def table(results) -> list:
    """One line per condition (known ones in CONDITIONS order, then the rest by name): name,
    n seeds, ICE mean [95 % CI] (%), retention after the last cycle (% of the first plating),
    Na trapped in pores after cycle 1 (mAh/cm2), interphase thickness after cycle 1 (um).
    `results`: a RESULTS folder or the dict collect() returns."""
    data = results if isinstance(results, dict) else collect(results)
    names = [c for c in CONDITIONS if c in data] + sorted(set(data) - set(CONDITIONS))
    lines = []
    for name in names:
        runs = data[name]
        i, r = ice(runs), retention(runs)
        lines.append(
            f"{name:<18} n={i['n']}  ICE {i['mean']:5.1f} % [{i['lo']:.1f}, {i['hi']:.1f}]  "
            f"retention after cycle {r['cycle'][-1]} {r['mean'][-1]:5.1f} %  "
            f"trapped(1) {_mean_first_cycle(runs, 'trapped_mAh_cm2'):.3f} mAh/cm2  "
            f"interphase(1) {_mean_first_cycle(runs, 'interphase_thickness_um'):.2f} um")
    return lines


def _errorbar(ax, x, stats, **kw):
    """Points at x with the 95 % CI of each _stats dict as error bars."""
    m = np.array([s["mean"] for s in stats])
    err = np.array([[s["mean"] - s["lo"] for s in stats], [s["hi"] - s["mean"] for s in stats]])
    ax.errorbar(x, m, yerr=np.clip(np.nan_to_num(err), 0, None), capsize=3, **kw)


def _ice_series(ax, data, conds, xkey, **kw):
    """ICE vs the config value `xkey` of the conditions present in data; False if none."""
    pts = sorted((_config_value(data[c][0], xkey), ice(data[c])) for c in conds if c in data)
    if pts:
        _errorbar(ax, [p for p, _ in pts], [s for _, s in pts], **kw)
    return bool(pts)


def panel_ice(ax, data):
    """(a) ICE (%) per collector / electrolyte: bars with CI, 000's values as open markers."""
    ax.set_title("(a) Initial CE", loc="left", fontweight="bold")
    ax.set_ylabel("ICE (%)")
    x = np.arange(len(ICE_BARS))
    ax.set_xticks(x, [f"{label}\nn={len(data[c])}" if c in data else f"{label}\nno data"
                      for c, label in ICE_BARS], fontsize=8)
    ax.set_ylim(0, 118)
    if not any(c in data for c, _ in ICE_BARS):
        _no_data(ax, "no data")
    for xi, (cond, _) in zip(x, ICE_BARS):
        top = 0.0
        if cond in data:
            s = ice(data[cond])
            ax.bar(xi, s["mean"], width=0.65, color=COLORS[cond], edgecolor="0.3", lw=0.6)
            _errorbar(ax, [xi], [s], fmt="none", ecolor="k")
            top = np.nan_to_num(s["hi"])
        exp = EXPERIMENT_ICE.get(cond)
        if exp is None:
            ax.text(xi, top + 2, "exp.\nn/a", ha="center", va="bottom", fontsize=7,
                    color="0.4")
        else:
            ax.plot(xi, exp, label="experiment (000)" if xi == 0 else None, **EXP_MARKER)
    ax.legend(fontsize=7, loc="upper right")


def panel_retention(ax, ax_trap, data):
    """(b) retention (% of the first plating) vs cycle of the pellets, mean and CI band; below,
    Na trapped in the pores (mAh/cm2) at the end of each cycle."""
    ax.set_title("(b) Retention, pellets on NBH", loc="left", fontweight="bold")
    ax.set_ylabel("Retention (% of 1st plating)")
    ax_trap.set(xlabel="Cycle", ylabel="Trapped Na\n(mAh/cm$^2$)")
    if not any(c in data for c, _ in PELLETS):
        _no_data(ax, "no data")
        return
    for cond, label in PELLETS:
        if cond not in data:
            continue
        runs, color = data[cond], COLORS[cond]
        r = retention(runs)
        phi = _config_value(runs[0], "collector.porosity")
        cyc = np.r_[0, r["cycle"]]          # cycle 0: the first plating, 100 %
        ax.plot(cyc, np.r_[100.0, r["mean"]], "o-", ms=3, color=color,
                label=f"{label}, porosity {100 * phi:.0f} % (n={r['n']})")
        ax.fill_between(cyc, np.r_[100.0, r["lo"]], np.r_[100.0, r["hi"]], color=color,
                        alpha=0.25, lw=0)
        t = _band(_cycle_matrix(runs, "trapped_mAh_cm2"))
        ax_trap.plot(r["cycle"], t["mean"], "o-", ms=3, color=color)
        ax_trap.fill_between(r["cycle"], t["lo"], t["hi"], color=color, alpha=0.25, lw=0)
    ax.set_ylim(bottom=0)
    ax_trap.set_ylim(bottom=0)
    ax_trap.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7)


def panel_pressure(ax, data):
    """(c) first-cycle CE (%) vs stack pressure (MPa) at RT and 40 C."""
    ax.set_title("(c) ICE vs stack pressure", loc="left", fontweight="bold")
    ax.set(xlabel="Stack pressure (MPa)", ylabel="ICE (%)")
    drawn = [_ice_series(ax, data, conds, "cell.stack_pressure_MPa", fmt="o-",
                         color=COLORS[label], label=label) for label, conds in PRESSURE_SERIES]
    if not any(drawn):
        _no_data(ax, "no data")
        return
    ax.legend(fontsize=8)


def panel_capacity(ax, data):
    """(f) ICE (%) vs plated capacity (mAh/cm2) on the Al pellet; 000: the same 93 % at all."""
    ax.set_title("(f) ICE vs plated capacity", loc="left", fontweight="bold")
    ax.set(xlabel="Plated capacity (mAh/cm$^2$)", ylabel="ICE (%)")
    if not _ice_series(ax, data, CAPACITY_SERIES, "protocol.plate_capacity_mAh_cm2", fmt="o-",
                       color=COLORS["al_pellet"], label="Al pellet, NBH"):
        _no_data(ax, "no data")
        return
    ax.axhline(EXPERIMENT_ICE["al_pellet"], color="k", ls=":", lw=1,
               label="experiment (000): same ICE at 1-7 mAh/cm$^2$")
    ax.legend(fontsize=7)


def panel_interphase(ax, data):
    """(e) interphase thickness (um) vs time (h) per electrolyte, one line per seed; 003's
    thickness after one cycle as dotted lines."""
    ax.set_title("(e) Interphase growth (003)", loc="left", fontweight="bold")
    ax.set(xlabel="Time (h)", ylabel="Interphase thickness (um)")
    if not any(c in data for c, _ in ELECTROLYTES):
        _no_data(ax, "no data")
        return
    for cond, label in ELECTROLYTES:
        color = COLORS[cond]
        for i, run in enumerate(data.get(cond, [])):
            ax.plot(*interphase_curve(run), "o-", ms=3, lw=1, color=color,
                    label=f"{label} (n={len(data[cond])})" if i == 0 else None)
        exp = EXPERIMENT_INTERPHASE_UM[cond]
        ax.axhline(exp, color=color, ls=":", lw=1)
        ax.text(0.01, exp, f"003 {label}: {exp:g} um", transform=ax.get_yaxis_transform(),
                ha="left", va="bottom", fontsize=7, color=color)
    ax.set_ylim(bottom=-2)
    ax.legend(fontsize=7, loc="center right")


def panel_sections(fig, axes, data):
    """(d) x-z sections at the end of the first strip of the first seed of each SECTIONS
    condition (Na left in the foil's valleys and the pellet's pores)."""
    snaps = [_find(data[c][0]["snapshots"], "_strip_end") if c in data else None
             for c, _ in SECTIONS]
    shown = [s for s in snaps if s is not None]
    z_top = max([_top_um(s) for s in shown] or [1.0])
    z_top += max(0.1 * z_top, 0.3)
    cmap = ListedColormap([PHASE_STYLE[k][1] for k in sorted(PHASE_STYLE)])
    for i, (ax, snap, (_, label)) in enumerate(zip(axes, snaps, SECTIONS)):
        cyc = snap["cycle"] if snap is not None else 1
        panel_section(ax, snap, f"{'(d) ' if i == 0 else ''}{label}, end of strip {cyc}",
                      z_top, cmap)
    present = set().union(*(np.unique(_xz(s)).tolist() for s in shown))
    always = {PHASES[k] for k in ALWAYS_IN_LEGEND}
    handles = [Patch(facecolor=c, edgecolor="0.3", lw=0.5, label=lab)
               for code, (lab, c) in PHASE_STYLE.items() if code in present | always]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8,
               frameon=False)


def make_figure(data, out):
    """Draw panels (a)-(f) of `data` (collect()); write OUT/paper000.png and .pdf. Returns
    the PNG path."""
    out = Path(out)
    fig = plt.figure(figsize=(17, 9), layout="constrained")
    gs = fig.add_gridspec(2, 4, height_ratios=[1.0, 1.0])
    panel_ice(fig.add_subplot(gs[0, 0]), data)
    sub = gs[0, 1].subgridspec(2, 1, height_ratios=[2.3, 1.0])
    ax_ret = fig.add_subplot(sub[0])
    ax_trap = fig.add_subplot(sub[1], sharex=ax_ret)
    plt.setp(ax_ret.get_xticklabels(), visible=False)
    panel_retention(ax_ret, ax_trap, data)
    panel_pressure(fig.add_subplot(gs[0, 2]), data)
    panel_capacity(fig.add_subplot(gs[0, 3]), data)
    sec = [fig.add_subplot(gs[1, i]) for i in range(2)]
    panel_sections(fig, sec, data)
    panel_interphase(fig.add_subplot(gs[1, 2:]), data)
    _note_scale(fig, sec)
    save_figure(fig, out / "paper000.png", dpi=150)
    plt.close(fig)
    return out / "paper000.png"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="?", type=Path, default=Path("results/paper000"),
                    metavar="RESULTS")
    ap.add_argument("-o", "--out", type=Path, default=None, help="output folder (RESULTS)")
    args = ap.parse_args(argv)
    data = collect(args.results)
    if not data:
        print(f"error: no complete run folders under {args.results}/<condition>/seed*",
              file=sys.stderr)
        return 2
    print("\n".join(table(data)))
    png = make_figure(data, args.out or args.results)
    print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
