"""One-figure overview of a kmc run folder.

    python analysis/plot_run.py RUN_FOLDER [--out PNG]

writes RUN_FOLDER/run.png (or PNG) and a .pdf beside it, and prints the PNG path. Panels:
(a) cell voltage vs time, plating and stripping shaded; (b) contact fractions of the
separator face vs time; (c) Coulombic efficiency per cycle and dead metal; (d) x-z cross
section at the end of the first plating; (e) the same at the end of the last strip
(3D runs: the middle y slice). Works on unfinished runs (panels without data say so).
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from analysis.load import PHASES, load_run, load_snapshot  # noqa: E402

PLATE_COLOR = "#dbe9f6"   # background of plating half-cycles
STRIP_COLOR = "#fde6cf"   # background of stripping half-cycles
# phase code -> (legend label, colour); order = legend order
PHASE_STYLE = {
    PHASES["ELECTROLYTE"]: ("electrolyte", "#e9dfc4"),
    PHASES["METAL"]: ("active metal", "#3a6fb0"),
    PHASES["DEAD"]: ("dead metal", "#d62728"),
    PHASES["EMPTY"]: ("void", "#111111"),
    PHASES["COLLECTOR"]: ("collector", "#b87333"),
    PHASES["SEED"]: ("seed", "#2ca02c"),
    PHASES["SOFT"]: ("soft phase", "#9467bd"),
    PHASES["INTERPHASE"]: ("interphase", "#7f7f7f"),
}
ALWAYS_IN_LEGEND = ("ELECTROLYTE", "METAL", "DEAD", "EMPTY", "COLLECTOR")


def _segments(t_h, half):
    """[(t_start, t_end, half)] of contiguous half-cycles; a half-cycle ends at its last row."""
    segs = []
    if len(t_h) == 0:
        return segs
    start, cur = t_h[0], half[0]
    for i in range(1, len(t_h)):
        if half[i] != cur:
            segs.append((start, t_h[i - 1], cur))
            start, cur = t_h[i - 1], half[i]
    segs.append((start, t_h[-1], cur))
    return segs


def _shade(ax, segs):
    for t0, t1, half in segs:
        ax.axvspan(t0, t1, color=PLATE_COLOR if half == "plate" else STRIP_COLOR, lw=0,
                   zorder=0)


def _no_data(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")


def panel_voltage(ax, ts, segs, cutoff):
    ax.set_title("(a) Cell voltage", loc="left", fontweight="bold")
    ax.set_ylabel("Voltage (V)")
    if not ts or len(ts["t_s"]) == 0:
        _no_data(ax, "no time series yet")
        return
    t_h = ts["t_s"] / 3600.0
    v = ts["voltage_V"]
    fin = np.isfinite(v)
    if fin.any():
        lo, hi = float(v[fin].min()), float(v[fin].max())
    else:
        lo, hi = -cutoff, cutoff
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    pad = 0.08 * max(hi - lo, 1e-3)
    lo, hi = lo - pad, hi + pad
    # the cutoff lines are drawn when the data come near them
    for c in (-cutoff, cutoff):
        if lo - 2 * pad <= c <= hi + 2 * pad:
            lo, hi = min(lo, c - pad), max(hi, c + pad)
            ax.axhline(c, color="0.35", ls="--", lw=0.8)
    _shade(ax, segs)
    ax.axhline(0.0, color="0.6", lw=0.6)
    vc = np.clip(np.where(np.isnan(v), np.nan, v), lo, hi)   # +-inf -> axis edge
    ax.plot(t_h, vc, color="k", lw=1.0)
    label = "|V| = inf (no active contact), clipped"
    for mask, y, marker in ((np.isposinf(v), hi, "^"), (np.isneginf(v), lo, "v")):
        if mask.any():   # (an empty unclipped line would break the layout)
            ax.plot(t_h[mask], np.full(mask.sum(), y), marker, color="C3", ms=5,
                    clip_on=False, label=label, zorder=4)
            label = "_nolegend_"
    ax.set_ylim(lo, hi)
    handles = [Patch(color=PLATE_COLOR, label="plating"), Patch(color=STRIP_COLOR,
                                                               label="stripping")]
    h, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles + h, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=3,
              fontsize=8, frameon=False, borderaxespad=0.1)


def panel_contact(ax, ts, segs):
    ax.set_title("(b) Contact", loc="left", fontweight="bold")
    ax.set_ylabel("Fraction of separator area")
    ax.set_xlabel("Time (h)")
    if not ts or len(ts["t_s"]) == 0:
        _no_data(ax, "no time series yet")
        return
    _shade(ax, segs)
    t_h = ts["t_s"] / 3600.0
    curves = [("contact_fraction", "total", "k", "-"),
              ("contact_active", "active metal", PHASE_STYLE[PHASES["METAL"]][1], "-"),
              ("contact_collector", "bare collector", PHASE_STYLE[PHASES["COLLECTOR"]][1], "-"),
              ("void_fraction_interface", "void", "0.45", ":")]
    if np.any(ts["contact_dead"] > 0):
        curves.append(("contact_dead", "dead metal", PHASE_STYLE[PHASES["DEAD"]][1], "-"))
    for key, label, color, ls in curves:
        ax.plot(t_h, ts[key], color=color, ls=ls, lw=1.2 if key == "contact_fraction" else 1.0,
                label=label)
    ax.set_ylim(-0.02, 1.05)
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=len(curves), fontsize=7.5,
              frameon=False, borderaxespad=0.1, handlelength=1.2, columnspacing=0.8,
              handletextpad=0.4)


def panel_ce(ax, cycles):
    ax.set_title("(c) Coulombic efficiency and dead metal", loc="left", fontweight="bold")
    ax.set_xlabel("Cycle")
    ax.set_ylabel("CE (%)")
    if not cycles:
        _no_data(ax, "no complete cycle yet")
        return
    n = np.array([c["cycle"] for c in cycles])
    # CE is undefined (None) for a cycle that plated nothing (a strip-only cycle)
    ce = np.array([np.nan if c["ce"] is None else 100.0 * c["ce"] for c in cycles])
    dead = np.array([c["dead_mAh_cm2"] for c in cycles])
    ax.bar(n, ce, width=0.6, color="#8fb3d9", edgecolor="#3a6fb0", label="CE")
    if len(n) <= 25:
        for x, y in zip(n[np.isfinite(ce)], ce[np.isfinite(ce)]):
            ax.text(x, y + 1.0, f"{y:.1f}", ha="center", va="bottom", fontsize=8,
                    rotation=0 if len(n) <= 12 else 90)
    ax.set_ylim(0, max(100.0, np.nanmax(ce, initial=0.0)) * 1.18)
    if len(n) <= 25:
        ax.set_xticks(n)
    ax.set_xlim(n.min() - 0.7, n.max() + 0.7)
    tw = ax.twinx()
    tw.plot(n, dead, "o-", color=PHASE_STYLE[PHASES["DEAD"]][1], ms=4, lw=1.2,
            label="dead metal")
    tw.set_ylabel("Dead metal (mAh/cm$^2$)", color=PHASE_STYLE[PHASES["DEAD"]][1])
    tw.tick_params(axis="y", colors=PHASE_STYLE[PHASES["DEAD"]][1])
    top = float(dead.max())
    tw.set_ylim(0, top * 1.25 if top > 0 else 0.01)
    hb, lb = ax.get_legend_handles_labels()
    ht, lt = tw.get_legend_handles_labels()
    ax.legend(hb + ht, lb + lt, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2,
              fontsize=8, frameon=False, borderaxespad=0.1)


def _xz(snap):
    """x-z slice (nz, nx) of a snapshot: the middle y slice for 3D runs."""
    st = snap["state"]
    return st[:, st.shape[1] // 2, :]


def _top_um(snap):
    """Height (um) of the separator underside in the slice (metal and voids lie below it)."""
    h = snap["h"][snap["h"].shape[0] // 2]
    return int(h.max()) * snap["voxel_um"]


def panel_section(ax, snap, title, z_top_um, cmap):
    """x-z section; z is measured from the collector surface, the collector is drawn below 0."""
    ax.set_title(title, loc="left", fontweight="bold")
    ax.set_xlabel("x (um)")
    ax.set_ylabel("z above collector (um)")
    if snap is None:
        _no_data(ax, "no snapshot yet")
        return
    a = snap["voxel_um"]
    zc = snap.get("collector_layers", 0)
    sl = _xz(snap)
    nz, nx = sl.shape
    # the collector foil continues below the simulated collector layer(s): draw a band
    z_bot = -max(zc * a, 0.06 * z_top_um)
    ax.axhspan(z_bot, -zc * a, color=PHASE_STYLE[PHASES["COLLECTOR"]][1], lw=0, zorder=0)
    ax.imshow(sl, cmap=cmap, vmin=-0.5, vmax=len(PHASE_STYLE) - 0.5, origin="lower",
              interpolation="nearest", extent=(0, nx * a, -zc * a, (nz - zc) * a),
              aspect="auto", zorder=1)
    ax.set_xlim(0, nx * a)
    ax.set_ylim(z_bot, min(z_top_um, (nz - zc) * a))
    ny = snap["state"].shape[1]
    where = f"y = {(ny // 2 + 0.5) * a:.2f} um, " if ny > 1 else ""
    ax._kmc_label = ax.text(0.995, 0.96, f"{where}t = {snap['t_s'] / 3600:.2f} h",
                            transform=ax.transAxes, ha="right", va="top", fontsize=8,
                            bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none",
                                      alpha=0.85), zorder=5)


def _note_scale(fig, axes):
    """After layout: state in each section how much z is stretched relative to x."""
    fig.canvas.draw()
    for ax in axes:
        label = getattr(ax, "_kmc_label", None)
        if label is None:
            continue
        bb = ax.get_window_extent()
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        stretch = (bb.height / (y1 - y0)) / (bb.width / (x1 - x0))
        if not 0.9 <= stretch <= 1.1:
            label.set_text(label.get_text() + f", z scale x{stretch:.1f}")


def _find(snaps, suffix, last=False):
    hits = [p for p in snaps if p.name.startswith("cycle") and p.stem.endswith(suffix)]
    if not hits:
        return None
    return load_snapshot(hits[-1] if last else hits[0])


def _title(run):
    s, cfg = run["summary"], run["config"]
    cell, prot, lat = cfg.get("cell", {}), cfg.get("protocol", {}), cfg.get("lattice", {})
    name = s.get("name") or cfg.get("run", {}).get("name", run["folder"].name)
    first = (f"{name}: {cell.get('metal', '?')} on {cell.get('collector', '?')}, "
             f"{prot.get('current_density_mA_cm2', float('nan')):g} mA/cm$^2$, "
             f"{cell.get('stack_pressure_MPa', float('nan')):g} MPa")
    parts = [f"{prot.get('plate_capacity_mAh_cm2', float('nan')):g} mAh/cm$^2$ per cycle",
             f"{len(s.get('cycles', []))}/{prot.get('cycles', '?')} cycles"]
    L = s.get("lattice")
    if L:
        a = L["voxel_um"]
        size = f"{L['nx'] * a:g} x {L['ny'] * a:g}" if L["ny"] > 1 else f"{L['nx'] * a:g}"
        parts.append(f"{lat.get('dimension', '?')}D, {size} um, voxel {a:g} um")
    if s and not s.get("complete", False):
        parts.append("INCOMPLETE")
    return first + "\n" + ", ".join(parts)


def plot_run(folder, out=None):
    """Draw the overview figure of a run folder; returns the PNG path (PDF written beside)."""
    run = load_run(folder)
    folder = Path(folder)
    out = Path(out) if out is not None else folder / "run.png"
    ts = run["timeseries"]
    cycles = run["summary"].get("cycles", [])
    cutoff = float(run["config"].get("protocol", {}).get("voltage_cutoff_V", 0.5))
    segs = _segments(ts["t_s"] / 3600.0, ts["half"]) if ts and len(ts["t_s"]) else []

    snap_d = _find(run["snapshots"], "_plate_end")
    snap_e = _find(run["snapshots"], "_strip_end", last=True)
    labels_d = "(d) End of first plating"
    if snap_d is not None:
        labels_d = f"(d) End of plating, cycle {snap_d['cycle']}"
    labels_e = "(e) End of last strip"
    if snap_e is not None:
        labels_e = f"(e) End of stripping, cycle {snap_e['cycle']}"

    # common cross-section window: collector surface to a little above the separator underside
    width_um, z_top = 1.0, 0.5
    for snap in (snap_d, snap_e):
        if snap is not None:
            width_um = snap["state"].shape[2] * snap["voxel_um"]
            z_top = max(z_top, _top_um(snap))
    z_top = z_top + max(0.15 * z_top, 0.3)
    ratio = z_top / width_um
    side_by_side = ratio > 0.3          # narrow (3D) sections: (d) and (e) next to each other
    width_in = 3.0 if side_by_side else 6.6
    # draw wide sections at least 0.9 in tall (z stretched), tall ones at most 3.2 in
    sec_h = min(3.2, max(0.9, width_in * ratio)) + 0.75

    nrow_sec = 1 if side_by_side else 2
    fig = plt.figure(figsize=(7.5, 7.4 + nrow_sec * sec_h), layout="constrained")
    gs = fig.add_gridspec(3 + nrow_sec, 2, height_ratios=[2.2, 2.2, 2.0] + [sec_h] * nrow_sec)
    ax_a = fig.add_subplot(gs[0, :])
    ax_b = fig.add_subplot(gs[1, :], sharex=ax_a)
    ax_c = fig.add_subplot(gs[2, :])
    if side_by_side:
        ax_d = fig.add_subplot(gs[3, 0])
        ax_e = fig.add_subplot(gs[3, 1], sharex=ax_d, sharey=ax_d)
    else:
        ax_d = fig.add_subplot(gs[3, :])
        ax_e = fig.add_subplot(gs[4, :], sharex=ax_d)

    panel_voltage(ax_a, ts, segs, cutoff)
    plt.setp(ax_a.get_xticklabels(), visible=False)
    panel_contact(ax_b, ts, segs)
    if segs and segs[-1][1] > segs[0][0]:
        ax_b.set_xlim(segs[0][0], segs[-1][1])
    panel_ce(ax_c, cycles)

    cmap = ListedColormap([PHASE_STYLE[k][1] for k in range(len(PHASE_STYLE))])
    panel_section(ax_d, snap_d, labels_d, z_top, cmap)
    panel_section(ax_e, snap_e, labels_e, z_top, cmap)
    present = set()
    for snap in (snap_d, snap_e):
        if snap is not None:
            present.update(np.unique(_xz(snap)).tolist())
    collector = run["config"].get("cell", {}).get("collector", "")
    handles = []
    for code, (label, color) in PHASE_STYLE.items():
        if code in present or code in {PHASES[k] for k in ALWAYS_IN_LEGEND}:
            if code == PHASES["COLLECTOR"] and collector:
                label = f"collector ({collector})"
            handles.append(Patch(facecolor=color, edgecolor="0.3", lw=0.5, label=label))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8,
               frameon=False)
    fig.suptitle(_title(run), fontsize=10)
    _note_scale(fig, (ax_d, ax_e))

    save_figure(fig, out)
    plt.close(fig)
    return out


def save_figure(fig, png, dpi=200):
    """Write png and a .pdf beside it (dpi: their resolution), each atomically (temporary
    file, then rename), creating the folder."""
    png.parent.mkdir(parents=True, exist_ok=True)
    for path, fmt in ((png, "png"), (png.with_suffix(".pdf"), "pdf")):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".{fmt}", dir=path.parent)
        os.close(fd)
        try:
            fig.savefig(tmp, format=fmt, dpi=dpi)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", metavar="RUN_FOLDER", help="output folder of a kmc run")
    ap.add_argument("--out", default=None, metavar="PNG",
                    help="output PNG (default RUN_FOLDER/run.png); a .pdf is written beside it")
    args = ap.parse_args(argv)
    try:
        out = plot_run(args.folder, args.out)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
