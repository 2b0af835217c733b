"""Figure and table for paper 004 (Li anodes with soft Na domains, stripped under stack pressure).

    python analysis/paper004.py [RESULTS] [-o OUT] [--pressure P] [--sections RUN]

RESULTS (default results/paper004) is searched recursively for run folders (any directory
holding config.toml and summary.json, so ensemble folders OUT/replicas/<id>/ are found too);
only complete runs are used. Each run is one condition: ``electrode.soft_mol_percent`` (mol %
Na; 0 when the table is absent) x ``cell.stack_pressure_MPa``, repeated over seeds. Prints one
line per condition (stripped capacity of the first strip, mean and 95 % bootstrap CI over
seeds) and writes OUT/paper004.png and .pdf (OUT defaults to RESULTS):
(a) stripped capacity vs stack pressure per Na content, log scale, with the experimental
points of 004 as open markers; (b) voltage vs stripped charge of the first strip at
--pressure (default 0.8 MPa; first seed), one curve per Na content, with the cutoff;
(c) Na coverage of the interface vs stripped depth: simulated (solid) and geometric, i.e.
the pristine electrode's Na cut at that depth (dashed, analysis.simulated_stripping);
(d) x-z sections of one Na-containing run: pristine, end of the first strip, end of the
next plating (if any); --sections RUN picks the run, e.g. 004's cryo-FIB sequence (strip
4 mAh/cm2, then re-plate it, then strip again):
    kmc run runs/paper004_na10.toml -o results/paper004_replate --set cell.stack_pressure_MPa=1.6
        --set protocol.strip_time_cap_h=16 --set protocol.cycles=2
        --set protocol.replate_stripped=true --set lattice.headroom_um=110
Exits 2 with ``error: ...`` when RESULTS holds no complete run.
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

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from analysis.aggregate import bootstrap_ci  # noqa: E402
from analysis.load import PHASES, load_run, load_snapshot  # noqa: E402
from analysis.plot_run import (PHASE_STYLE, _no_data, _note_scale, _top_um, _xz,  # noqa: E402
                               panel_section, save_figure)

__all__ = ["collect", "capacity_table", "print_table", "make_figure", "EXPERIMENT", "main"]

# Experimental first-strip capacities of 004: Na mol % -> [(stack pressure MPa, mAh/cm2)]
EXPERIMENT = {0.0: [(0.0, 0.4), (0.8, 2.2), (3.2, 30.0)], 5.0: [(0.8, 16.0)], 20.0: [(0.0, 5.3)]}
CUTOFF_V = 0.15   # strip voltage cutoff of 004 (V); protocol.voltage_cutoff_V overrides it


def collect(results) -> list:
    """One dict per complete run folder under RESULTS (searched recursively), sorted by
    (na_mol_percent, pressure_MPa, seed, folder).

    Keys: na_mol_percent (mol % Na), pressure_MPa (stack pressure), seed, stripped_mAh_cm2
    and strip_end (first cycle's strip: capacity in mAh/cm2 and why it ended), folder (Path),
    run (load_run of the folder).
    """
    records = []
    for summ in Path(results).rglob("summary.json"):
        folder = summ.parent
        if not (folder / "config.toml").exists():
            continue
        run = load_run(folder)
        cycles = run["summary"].get("cycles", [])
        if not run["summary"].get("complete") or not cycles:
            continue
        cfg = run["config"]
        records.append({
            "na_mol_percent": float(cfg.get("electrode", {}).get("soft_mol_percent", 0.0)),
            "pressure_MPa": float(cfg["cell"]["stack_pressure_MPa"]),
            "seed": cfg.get("run", {}).get("seed"),
            "stripped_mAh_cm2": float(cycles[0]["stripped_mAh_cm2"]),
            "strip_end": cycles[0].get("strip_end"),
            "folder": folder, "run": run})
    records.sort(key=lambda r: (r["na_mol_percent"], r["pressure_MPa"],
                                r["seed"] if r["seed"] is not None else -1, str(r["folder"])))
    return records


def capacity_table(records) -> list:
    """One row per (Na mol %, stack pressure) condition: na_mol_percent, pressure_MPa, n (runs),
    mean, ci_lo, ci_hi (95 % bootstrap CI of the mean), min, max; capacities in mAh/cm2."""
    groups = {}
    for r in records:
        groups.setdefault((r["na_mol_percent"], r["pressure_MPa"]), []).append(
            r["stripped_mAh_cm2"])
    rows = []
    for (na, p), vals in sorted(groups.items()):
        x = np.asarray(vals, dtype=float)
        lo, hi = bootstrap_ci(x)
        rows.append({"na_mol_percent": na, "pressure_MPa": p, "n": int(x.size),
                     "mean": float(x.mean()), "ci_lo": lo, "ci_hi": hi,
                     "min": float(x.min()), "max": float(x.max())})
    return rows


def print_table(rows, file=None):
    """Print capacity_table rows, one line per condition."""
    for r in rows:
        print(f"Na {r['na_mol_percent']:.1f} %  {r['pressure_MPa']:.2f} MPa  n={r['n']}  "
              f"stripped {r['mean']:.2f} mAh/cm2 [{r['ci_lo']:.1f}, {r['ci_hi']:.1f}]  "
              f"(range {r['min']:.2f}-{r['max']:.2f})", file=file)


def _strip_rows(ts, cycle=1):
    """Timeseries rows of the strip of `cycle` ({column: array})."""
    m = (ts["cycle"] == cycle) & (ts["half"] == "strip")
    return {k: v[m] for k, v in ts.items()}


def _snapshot(run, name):
    """load_snapshot of snapshots/<name>.npz, or None if the run has no such snapshot."""
    hits = [p for p in run["snapshots"] if p.stem == name]
    return load_snapshot(hits[0]) if hits else None


def _first_per_na(records, pressure):
    """{Na mol %: first-seed record} of the runs at `pressure` (MPa)."""
    out = {}
    for r in records:
        if np.isclose(r["pressure_MPa"], pressure):
            out.setdefault(r["na_mol_percent"], r)
    return out


def _replated(rec):
    """Charge (mAh/cm2) plated in cycle 2 of a record's run (0 if none or no cycle 2)."""
    cycles = rec["run"]["summary"]["cycles"]
    return float(cycles[1].get("plated_mAh_cm2") or 0.0) if len(cycles) > 1 else 0.0


def _section_run(records, pressure):
    """The Na-containing run for the sections: preferably at `pressure` and with a second
    plating (to show the Na lifted off), then the most Na, then the first seed."""
    na_runs = [r for r in records if r["na_mol_percent"] > 0]
    if not na_runs:
        return None

    def rank(i):
        r = na_runs[i]
        return (bool(np.isclose(r["pressure_MPa"], pressure)), _replated(r) > 0,
                r["na_mol_percent"], -i)
    return na_runs[max(range(len(na_runs)), key=rank)]


def panel_capacity(ax, rows, colors):
    """(a) stripped capacity (mAh/cm2) vs stack pressure (MPa), log y; experiment open."""
    ax.set_title("(a) First-strip capacity", loc="left", fontweight="bold")
    for na in sorted({r["na_mol_percent"] for r in rows}):
        sel = [r for r in rows if r["na_mol_percent"] == na and r["mean"] > 0]
        if not sel:
            continue
        p = np.array([r["pressure_MPa"] for r in sel])
        m = np.array([r["mean"] for r in sel])
        err = np.array([[r["mean"] - r["ci_lo"] for r in sel], [r["ci_hi"] - r["mean"]
                                                               for r in sel]])
        ax.errorbar(p, m, yerr=np.clip(err, 0, None), fmt="o-", color=colors[na], ms=5,
                    capsize=3, label=f"{na:g} % Na")
    for na, pts in EXPERIMENT.items():
        p, c = np.array(pts).T
        ax.plot(p, c, "s", mfc="none", mec=colors[na], mew=1.5, ms=8,
                label=f"{na:g} % Na, experiment")
    ax.set_yscale("log")
    ax.set(xlabel="Stack pressure (MPa)", ylabel="Stripped capacity (mAh/cm$^2$)")
    ax.legend(fontsize=7, ncol=2)


def panel_voltage(ax, firsts, pressure, colors):
    """(b) voltage (V) vs stripped charge (mAh/cm2) of the first strip, one curve per Na."""
    ax.set_title(f"(b) First strip at {pressure:g} MPa", loc="left", fontweight="bold")
    ax.set(xlabel="Stripped charge (mAh/cm$^2$)", ylabel="Voltage (V)")
    if not firsts:
        _no_data(ax, f"no runs at {pressure:g} MPa")
        return
    cutoff = CUTOFF_V
    for na, r in sorted(firsts.items()):
        cutoff = float(r["run"]["config"].get("protocol", {}).get("voltage_cutoff_V", cutoff))
        h = _strip_rows(r["run"]["timeseries"])
        fin = np.isfinite(h["voltage_V"])
        ax.plot(h["half_charge_mAh_cm2"][fin], h["voltage_V"][fin], color=colors[na],
                label=f"{na:g} % Na")
    ax.axhline(cutoff, color="0.35", ls="--", lw=0.8)
    ax.text(0.01, cutoff, f"cutoff {cutoff:g} V", transform=ax.get_yaxis_transform(),
            va="bottom", fontsize=7, color="0.35")
    ax.legend(fontsize=7)


def panel_coverage(ax, firsts, colors):
    """(c) Na coverage of the interface vs stripped depth (um): simulated (solid, timeseries
    contact_soft vs stripped_depth_um) and geometric (dashed, pristine snapshot cut flat)."""
    ax.set_title("(c) Na at the interface", loc="left", fontweight="bold")
    ax.set(xlabel="Stripped depth (um)", ylabel="Na coverage of the interface")
    na_runs = {na: r for na, r in firsts.items() if na > 0}
    if not na_runs:
        _no_data(ax, "no Na-containing runs")
        return
    try:
        from analysis.simulated_stripping import coverage_vs_depth, mask_from_snapshot
    except ImportError as err:
        coverage_vs_depth = None
        print(f"note: geometric coverage curves skipped ({err})")
    depth_max, geometric = 0.0, False
    for na, r in sorted(na_runs.items()):
        h = _strip_rows(r["run"]["timeseries"])
        if "contact_soft" in h and "stripped_depth_um" in h and len(h["t_s"]):
            ax.plot(h["stripped_depth_um"], h["contact_soft"], color=colors[na],
                    label=f"{na:g} % Na")
            depth_max = max(depth_max, float(np.nanmax(h["stripped_depth_um"])))
        snap = _snapshot(r["run"], "cycle0001_plate_end")
        if coverage_vs_depth is not None and snap is not None:
            mask, top = mask_from_snapshot(snap)
            geo = coverage_vs_depth(mask, snap["voxel_um"], top)
            ax.plot(geo["depth_um"], geo["na_coverage"], "--", color=colors[na], lw=1.0)
            geometric = True
    if depth_max > 0:
        ax.set_xlim(0, 1.05 * depth_max)
    ax.set_ylim(bottom=0)
    if geometric:
        ax.plot([], [], "k--", lw=1.0, label="geometric (pristine Na cut flat)")
    ax.legend(fontsize=7)


def panel_sections(fig, axes, rec):
    """(d) x-z sections of `rec`: pristine, end of the first strip, end of the next plating."""
    replated = _replated(rec) if rec else 0.0
    names = (("cycle0001_plate_end", "pristine"), ("cycle0001_strip_end", "after 1st strip"),
             ("cycle0002_plate_end", f"after replating {replated:.3g} mAh/cm$^2$"
              if replated > 0 else "no replating"))
    snaps = [_snapshot(rec["run"], n) if rec else None for n, _ in names]
    if replated <= 0:
        snaps[2] = None       # cycle 2 plated nothing: its plate_end is the stripped state
    shown = [s for s in snaps if s is not None]
    z_top = max([_top_um(s) for s in shown] or [1.0])
    z_top += max(0.1 * z_top, 0.3)
    cmap = ListedColormap([PHASE_STYLE[k][1] for k in sorted(PHASE_STYLE)])
    for i, (ax, snap, (_, label)) in enumerate(zip(axes, snaps, names)):
        head = (f"(d) {rec['na_mol_percent']:g} % Na, {rec['pressure_MPa']:g} MPa: "
                if rec and i == 0 else "")
        panel_section(ax, snap, head + label, z_top, cmap)
    present = set().union(*(np.unique(_xz(s)).tolist() for s in shown)) if shown else set()
    handles = [Patch(facecolor=c, edgecolor="0.3", lw=0.5, label=lab)
               for code, (lab, c) in PHASE_STYLE.items()
               if code in present or code == PHASES["SOFT"]]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8,
               frameon=False)


def make_figure(records, out, pressure=0.8, section=None):
    """Draw panels (a)-(d) of `records` (collect()); write OUT/paper004.png and .pdf.
    `pressure`: stack pressure (MPa) of panels (b)-(d); `section`: the record whose x-z
    sections panel (d) shows (default: picked from `records`). Returns the PNG path."""
    out = Path(out)
    rows = capacity_table(records)
    levels = sorted({r["na_mol_percent"] for r in records} | set(EXPERIMENT))
    colors = {na: plt.cm.viridis(0.85 * i / max(len(levels) - 1, 1))
              for i, na in enumerate(levels)}
    firsts = _first_per_na(records, pressure)
    fig = plt.figure(figsize=(13, 8), layout="constrained")
    gs = fig.add_gridspec(2, 3, height_ratios=[1.2, 1.0])
    panel_capacity(fig.add_subplot(gs[0, 0]), rows, colors)
    panel_voltage(fig.add_subplot(gs[0, 1]), firsts, pressure, colors)
    panel_coverage(fig.add_subplot(gs[0, 2]), firsts, colors)
    sec = [fig.add_subplot(gs[1, i]) for i in range(3)]
    panel_sections(fig, sec, section or _section_run(records, pressure))
    _note_scale(fig, sec)
    save_figure(fig, out / "paper004.png", dpi=150)
    plt.close(fig)
    return out / "paper004.png"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="?", type=Path, default=Path("results/paper004"),
                    metavar="RESULTS")
    ap.add_argument("-o", "--out", type=Path, default=None, help="output folder (RESULTS)")
    ap.add_argument("--pressure", type=float, default=0.8,
                    help="stack pressure (MPa) of panels (b)-(d); default 0.8")
    ap.add_argument("--sections", type=Path, default=None, metavar="RUN",
                    help="run folder whose sections panel (d) shows, e.g. a strip-replate-strip "
                         "run (see the module docstring)")
    args = ap.parse_args(argv)
    records = collect(args.results)
    if not records:
        print(f"error: no complete run folders under {args.results}", file=sys.stderr)
        return 2
    section = None
    if args.sections is not None:
        found = collect(args.sections)
        if not found:
            print(f"error: no complete run folder at {args.sections}", file=sys.stderr)
            return 2
        section = found[0]
    print_table(capacity_table(records))
    png = make_figure(records, args.out or args.results, args.pressure, section)
    print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
