"""Figures of an ensemble folder (after ``kmc aggregate OUT``), sized for a paper column.

    python analysis/figures.py OUT [--cycle N] [--heatmap KEY_X KEY_Y] [--metric NAME]
    kmc aggregate OUT --figures                       (the same with the defaults)

writes into OUT/figures/ (each as .png at 300 dpi and .pdf) and prints the PNG paths:

- ``ce_vs_cycle``: Coulombic efficiency (%) vs cycle, mean over replicas with its 95 %
  bootstrap confidence band, one line per condition (from summary.csv; the conditions are
  shifted sideways by a few hundredths of a cycle so that equal values stay visible);
- ``contact_vs_charge``: contact fraction of the separator face vs the charge stripped in
  cycle N (default 1): every replica thin, the mean of each condition bold;
- ``voltage_curves``: cell voltage vs charge while plating and while stripping in cycle N,
  every replica, coloured by condition;
- ``heatmap_<metric>``: a metric (default ``stripped_mAh_cm2``, any summary.csv metric) of
  cycle N, mean over replicas, over two varied parameters, when the sweep varies exactly two
  (or the two given by --heatmap while the others are fixed).

Needs numpy and matplotlib, not the compiled engine.
"""
import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from analysis.aggregate import load_plan, read_csv, replica_folder  # noqa: E402
from analysis.load import load_timeseries  # noqa: E402

__all__ = ["make_figures", "ce_vs_cycle", "contact_vs_charge", "voltage_curves", "heatmap"]

# readable at paper size: one column is ~3.4 in wide, two columns ~7 in
STYLE = {"font.size": 8, "axes.labelsize": 8, "axes.titlesize": 8, "legend.fontsize": 7,
         "xtick.labelsize": 7, "ytick.labelsize": 7, "lines.linewidth": 1.2,
         "axes.linewidth": 0.6, "savefig.dpi": 300, "pdf.fonttype": 42,
         "figure.constrained_layout.use": True}
COLORS = plt.get_cmap("tab10").colors
MARKERS = "osD^vP*X"
NAMES = {"seed.material": "seed layer", "cell.collector": "collector", "cell.metal": "metal",
         "cell.stack_pressure_MPa": "stack pressure",
         "protocol.current_density_mA_cm2": "current density",
         "protocol.plate_capacity_mAh_cm2": "plated capacity",
         "cell.temperature_K": "temperature", "seed.thickness_nm": "seed thickness",
         "cell.separator_thickness_um": "separator thickness"}
UNITS = {"mA/cm2": "mA cm$^{-2}$", "mAh/cm2": "mAh cm$^{-2}$", "um": "µm",
         "um2/s": "µm$^2$ s$^{-1}$", "cm2/s": "cm$^2$ s$^{-1}$", "mS/cm": "mS cm$^{-1}$",
         "um/h": "µm h$^{-1}$", "1/s": "s$^{-1}$"}
METRIC_LABELS = {"ce": ("Coulombic efficiency", "%", 100.0),
                 "contact_fraction_end_of_strip": ("contact fraction after strip", "", 1.0),
                 "stripped_mAh_cm2": ("stripped capacity", "mAh cm$^{-2}$", 1.0),
                 "dead_mAh_cm2": ("dead metal", "mAh cm$^{-2}$", 1.0)}
MAH = "mAh cm$^{-2}$"


def _unit(unit):
    return "" if unit in ("", "-") else UNITS.get(unit, unit)


def _name(param):
    """Readable name of a varied key: NAMES, else the key without its unit suffix."""
    key, unit = param["key"], param.get("unit", "")
    if key in NAMES:
        return NAMES[key]
    suffix = "_" + unit.replace("/", "_")
    return key[:-len(suffix)] if unit not in ("", "-") and key.endswith(suffix) else key


def param_axis_label(param):
    """'stack pressure (MPa)' for a plan.json parameter."""
    name = _name(param)
    u = _unit(param["unit"])
    return f"{name} ({u})" if u else name


def _value_text(param, v):
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        u = _unit(param["unit"])
        return f"{v:g} {u}".strip()
    return str(v)


def condition_labels(plan):
    """{point: legend label}: the values only for a one-parameter sweep, else name = value."""
    params = [p for p in plan["parameters"] if len(p["values"]) > 1] or plan["parameters"]
    out = {}
    for pt in plan["points"]:
        parts = []
        for p in params:
            v = pt["overrides"][p["key"]]
            text = _value_text(p, v)
            parts.append(text if len(params) == 1 else f"{_name(p)} {text}")
        out[pt["point"]] = ", ".join(parts) if parts else "base"
    return out


def _legend_title(plan):
    params = [p for p in plan["parameters"] if len(p["values"]) > 1]
    return _name(params[0]) if len(params) == 1 else None


def _legend(ax, plan):
    if ax.get_legend_handles_labels()[0]:
        ax.legend(title=_legend_title(plan), frameon=False)


def _save(fig, out, name):
    figdir = Path(out) / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    png = figdir / f"{name}.png"
    fig.savefig(png)
    fig.savefig(figdir / f"{name}.pdf")
    plt.close(fig)
    return png


def _complete_replicas(out, plan):
    """{point: [replica records]} of replicas whose summary.json is complete."""
    by_point = {}
    for rep in sorted(plan["replicas"], key=lambda r: r["id"]):
        summ = replica_folder(out, rep["id"]) / "summary.json"
        if summ.exists() and json.loads(summ.read_text()).get("complete"):
            by_point.setdefault(rep["point"], []).append(rep)
    return by_point


# ----------------------------------------------------------------------------- figures

def ce_vs_cycle(out, plan=None):
    """CE (%) vs cycle per condition: mean line, 95 % bootstrap CI band (summary.csv)."""
    plan = plan or load_plan(out)
    rows = read_csv(Path(out) / "summary.csv")
    labels = condition_labels(plan)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(3.4, 2.6))
        for i, pt in enumerate(plan["points"]):
            r = sorted((r for r in rows if r["point"] == pt["point"]
                        and r.get("ce_mean") is not None), key=lambda r: r["cycle"])
            if not r:
                continue
            # dodge the conditions sideways a little so that equal values stay visible
            npts = len(plan["points"])
            c = np.array([x["cycle"] for x in r]) + (i - (npts - 1) / 2) * min(0.06, 0.3 / npts)
            m = 100 * np.array([x["ce_mean"] for x in r], dtype=float)
            lo = 100 * np.array([x["ce_ci95_lo"] for x in r], dtype=float)
            hi = 100 * np.array([x["ce_ci95_hi"] for x in r], dtype=float)
            n = min(x["n"] for x in r)
            col = COLORS[i % len(COLORS)]
            ax.fill_between(c, lo, hi, color=col, alpha=0.25, linewidth=0)
            ax.plot(c, m, "-", marker=MARKERS[i % len(MARKERS)], color=col, markersize=3.5,
                    markerfacecolor="none" if i % 2 else col,
                    label=f"{labels[pt['point']]} (n={n})")
        ax.set_xlabel("cycle")
        ax.set_ylabel("Coulombic efficiency (%)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        _legend(ax, plan)
        ax.set_title("mean and 95 % bootstrap CI over seeds")
        return _save(fig, out, "ce_vs_cycle")


def _strip_curve(ts, cycle):
    """(charge stripped, contact fraction, voltage) through the strip of `cycle`, starting at
    the end of the plating before it (charge 0)."""
    cyc, half = ts["cycle"], ts["half"]
    plate = np.flatnonzero((cyc == cycle) & (half == "plate"))
    strip = np.flatnonzero((cyc == cycle) & (half == "strip"))
    idx = np.concatenate([plate[-1:], strip])
    q = ts["half_charge_mAh_cm2"][idx].copy()
    if plate.size:
        q[0] = 0.0
    return q, ts["contact_fraction"][idx], ts["voltage_V"][idx]


def contact_vs_charge(out, cycle=1, plan=None):
    """Contact fraction vs charge stripped in one cycle: replicas thin, condition means bold."""
    plan = plan or load_plan(out)
    labels = condition_labels(plan)
    reps = _complete_replicas(out, plan)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(3.4, 2.6))
        for i, pt in enumerate(plan["points"]):
            col = COLORS[i % len(COLORS)]
            curves = []
            for rep in reps.get(pt["point"], []):
                ts = load_timeseries(replica_folder(out, rep["id"]) / "timeseries.csv")
                q, f, _ = _strip_curve(ts, cycle)
                if q.size < 2:
                    continue
                curves.append((q, f))
                ax.plot(q, f, color=col, alpha=0.3, linewidth=0.6)
            if not curves:
                continue
            qmax = min(q[-1] for q, _ in curves)
            grid = np.linspace(0.0, qmax, 200)
            mean = np.mean([np.interp(grid, q, f) for q, f in curves], axis=0)
            ax.plot(grid, mean, color=col, label=f"{labels[pt['point']]} (n={len(curves)})")
        ax.set_xlabel(f"charge stripped in cycle {cycle} ({MAH})")
        ax.set_ylabel("contact fraction")
        ax.set_ylim(-0.02, 1.02)
        _legend(ax, plan)
        ax.set_title("thin: replicas; bold: mean over replicas")
        return _save(fig, out, "contact_vs_charge")


def voltage_curves(out, cycle=1, plan=None):
    """Cell voltage vs charge in the plating and the stripping of one cycle, all replicas."""
    plan = plan or load_plan(out)
    labels = condition_labels(plan)
    reps = _complete_replicas(out, plan)
    with plt.rc_context(STYLE):
        fig, (ax_p, ax_s) = plt.subplots(1, 2, figsize=(7.0, 2.6), sharey=False)
        for i, pt in enumerate(plan["points"]):
            col = COLORS[i % len(COLORS)]
            first = True
            for rep in reps.get(pt["point"], []):
                ts = load_timeseries(replica_folder(out, rep["id"]) / "timeseries.csv")
                sel = (ts["cycle"] == cycle) & (ts["half"] == "plate")
                qp, vp = ts["half_charge_mAh_cm2"][sel], ts["voltage_V"][sel]
                qs, _, vs = _strip_curve(ts, cycle)
                qs, vs = qs[1:], vs[1:]          # the strip rows only
                kw = {"color": col, "alpha": 0.6, "linewidth": 0.8}
                if first:
                    kw["label"] = labels[pt["point"]]
                    first = False
                okp, oks = np.isfinite(vp), np.isfinite(vs)
                ax_p.plot(qp[okp], 1e3 * vp[okp], **kw)
                ax_s.plot(qs[oks], 1e3 * vs[oks], **{k: v for k, v in kw.items()
                                                     if k != "label"})
        ax_p.set_xlabel(f"charge plated in cycle {cycle} ({MAH})")
        ax_s.set_xlabel(f"charge stripped in cycle {cycle} ({MAH})")
        for ax, name in ((ax_p, "plating"), (ax_s, "stripping")):
            ax.set_ylabel("cell voltage (mV)")
            ax.set_title(name)
        _legend(ax_p, plan)
        return _save(fig, out, "voltage_curves")


def heatmap(out, x_key=None, y_key=None, metric="stripped_mAh_cm2", cycle=1, plan=None):
    """Mean of a summary.csv metric at one cycle over two varied parameters (None when the
    sweep does not vary exactly these two, the others fixed)."""
    plan = plan or load_plan(out)
    varied = [p for p in plan["parameters"] if len(p["values"]) > 1]
    if x_key is None and y_key is None:
        if len(varied) != 2:
            return None
        x_key, y_key = varied[0]["key"], varied[1]["key"]
    params = {p["key"]: p for p in plan["parameters"]}
    for k in (x_key, y_key):
        if k not in params:
            raise ValueError(f"{k} is not a varied parameter of this sweep")
    if any(p["key"] not in (x_key, y_key) for p in varied):
        raise ValueError("the heat map needs every other varied parameter fixed")
    px, py = params[x_key], params[y_key]
    rows = [r for r in read_csv(Path(out) / "summary.csv") if r["cycle"] == cycle]
    grid = np.full((len(py["values"]), len(px["values"])), np.nan)
    for r in rows:
        if r.get(f"{metric}_mean") is None:
            continue
        ix = px["values"].index(r[x_key]) if r[x_key] in px["values"] else None
        iy = py["values"].index(r[y_key]) if r[y_key] in py["values"] else None
        if ix is not None and iy is not None:
            grid[iy, ix] = r[f"{metric}_mean"]
    name, unit, scale = METRIC_LABELS.get(metric, (metric, "", 1.0))
    grid = grid * scale
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(3.4, 2.8))
        cmap = plt.get_cmap("viridis").copy()
        cmap.set_bad("#cccccc")
        im = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap=cmap)
        ax.set_xticks(range(len(px["values"])), [_value_text({"unit": ""}, v)
                                                  for v in px["values"]])
        ax.set_yticks(range(len(py["values"])), [_value_text({"unit": ""}, v)
                                                  for v in py["values"]])
        ax.set_xlabel(param_axis_label(px))
        ax.set_ylabel(param_axis_label(py))
        finite = grid[np.isfinite(grid)]
        mid = 0.5 * (finite.min() + finite.max()) if finite.size else 0.0
        for (iy, ix), v in np.ndenumerate(grid):
            ax.text(ix, iy, "n/a" if not np.isfinite(v) else f"{v:.3g}", ha="center",
                    va="center", fontsize=7, color="black" if not np.isfinite(v) or v > mid
                    else "white")
        cb = fig.colorbar(im, ax=ax)
        cb.set_label(f"{name} ({unit})" if unit else name)
        ax.set_title(f"cycle {cycle}, mean over seeds")
        return _save(fig, out, f"heatmap_{metric}")


def make_figures(out, cycle=1, heatmap_keys=None, metric="stripped_mAh_cm2"):
    """All figures that apply to this ensemble; returns the PNG paths (none while no replica
    has finished)."""
    plan = load_plan(out)
    if not read_csv(Path(out) / "summary.csv"):
        return []
    paths = [ce_vs_cycle(out, plan), contact_vs_charge(out, cycle, plan),
             voltage_curves(out, cycle, plan)]
    x, y = heatmap_keys if heatmap_keys else (None, None)
    hm = heatmap(out, x, y, metric, cycle, plan)
    if hm is not None:
        paths.append(hm)
    return paths


def main(argv=None):
    ap = argparse.ArgumentParser(description="Figures of an ensemble folder.")
    ap.add_argument("out", metavar="OUT", help="ensemble folder (after kmc aggregate OUT)")
    ap.add_argument("--cycle", type=int, default=1,
                    help="cycle of the contact, voltage and heat-map figures (default 1)")
    ap.add_argument("--heatmap", nargs=2, metavar=("KEY_X", "KEY_Y"), default=None,
                    help="varied keys of the heat map (default: the two varied keys)")
    ap.add_argument("--metric", default="stripped_mAh_cm2",
                    help="summary.csv metric of the heat map (default stripped_mAh_cm2)")
    a = ap.parse_args(argv)
    if not (Path(a.out) / "summary.csv").exists():
        print(f"error: {a.out}/summary.csv not found: run kmc aggregate {a.out} first",
              file=sys.stderr)
        return 2
    for p in make_figures(a.out, a.cycle, a.heatmap, a.metric):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
