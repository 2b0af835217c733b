"""Li contact after a short strip with one interfacial defect: Na domain vs void (004, Fig. 5i/j).

    python analysis/defect_contact.py [-o OUT] [--seeds N] [--currents J ...] [--size-um L]

A 2D cross-section (lattice.dimension 2) of a Li electrode, thick_um (um) of Li on the
collector, pressed against the LPSC separator at pressure_MPa (MPa), carries one defect at
the Li/electrolyte interface, centred in x: a rectangle width_frac x L wide (whole columns)
and half as deep (whole layers), right under the separator, filled either with the soft
phase (a Na domain, "soft") or left empty (a void, "void"); "none" is the defect-free
reference. The electrode is then stripped galvanostatically at j (mA/cm2) for t_s (s; 2 min
by default) and the contact of the separator face is read (fractions of its length): Li
(active metal), Na (soft phase) and all conducting contact (Li + Na).

Prints one line per (defect, j): the Li contact, mean over seeds and (min-max) over seeds,
then the Na and total conducting contact (means), and writes OUT/defect_contact.png and .pdf
(OUT defaults to results/defect_contact): (a) Li contact vs current density, (b) all
conducting contact vs current density, Na domain vs void vs no defect, bars = min-max over
seeds.

The default lattice is L = 10 um (100 columns of 0.1 um; defect 2 um wide, 1 um deep), not
20 um: the Na domain's fast hops dominate the event count, and the default sweep takes
about 25 s at 10 um but about 85 s at 20 um on two busy cores; --size-um 20 runs it.
"""
import argparse
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from analysis.plot_run import PHASE_STYLE, save_figure  # noqa: E402
from kmc import observables as obs  # noqa: E402
from kmc._engine import STOP_REASONS  # noqa: E402
from kmc.config import with_overrides  # noqa: E402
from kmc.lattice import build_engine  # noqa: E402
from kmc.phases import EMPTY, SOFT  # noqa: E402

__all__ = ["DEFECTS", "defect_box", "build_defect_engine", "strip_for", "contact_after",
           "sweep", "format_row", "make_figure", "main"]

DEFECTS = {"soft": "Na domain", "void": "void", "none": "no defect"}
# defect -> colour, marker, line style, x nudge of its markers (so that the bars do not overlap)
STYLE = {"soft": (PHASE_STYLE[SOFT][1], "s", "-", 0.97),
         "void": (PHASE_STYLE[EMPTY][1], "o", "-", 1.0),
         "none": ("0.55", "^", "--", 1.03)}
CURRENTS = (0.25, 0.5, 1.0, 2.0)   # mA/cm2
SIZE_UM = 10.0                      # lateral size L of the default lattice (um)
MAX_EVENTS = 10**7                  # events per engine.advance call


def defect_box(nx, layers, width_frac):
    """(x0, w, d) of the defect in lattice units: w = round(width_frac nx) columns starting at
    x0 (centred), d = max(1, round(w / 2)) layers deep. ValueError if it does not fit in a
    metal electrode of `layers` layers with at least one layer of metal left below it."""
    if not 0.0 < width_frac < 1.0:
        raise ValueError(f"width_frac must be in (0, 1), got {width_frac}")
    w = round(width_frac * nx)
    if w < 1:
        raise ValueError(f"defect narrower than a column (width_frac {width_frac}, nx {nx})")
    d = max(1, round(w / 2))
    if d >= layers:
        raise ValueError(f"defect {d} layers deep does not fit in {layers} layers of metal")
    return (nx - w) // 2, w, d


def build_defect_engine(defect, j_mA_cm2, seed, width_frac=0.2, pressure_MPa=1.0,
                        size_um=SIZE_UM, voxel_um=0.1, thick_um=4.0):
    """(engine, units, box) of a 2D Li electrode with the defect loaded, not yet stripped.

    defect: "soft" (Na domain), "void" or "none"; j_mA_cm2: strip current density (mA/cm2);
    seed: run.seed; pressure_MPa: stack pressure (MPa); size_um, voxel_um, thick_um: lateral
    size, voxel edge and Li thickness (um). box = (x0, w, d) from defect_box: the top d
    layers (z = h-d .. h-1) of columns x0 .. x0+w-1 are SOFT or EMPTY.
    """
    if defect not in DEFECTS:
        raise ValueError(f"defect must be one of {sorted(DEFECTS)}, got {defect!r}")
    cfg = with_overrides({"lattice.dimension": 2, "lattice.voxel_um": voxel_um,
                          "lattice.size_x_um": size_um,
                          "cell.stack_pressure_MPa": pressure_MPa,
                          "electrode.initial_metal_um": thick_um,
                          "protocol.current_density_mA_cm2": j_mA_cm2,
                          "protocol.plate_capacity_mAh_cm2": 0.0, "run.seed": seed})
    engine, units = build_engine(cfg)
    box = defect_box(engine.nx, round(thick_um / units.a_um), width_frac)
    if defect != "none":
        x0, w, d = box
        st = engine.state_arr.reshape(engine.nz, engine.ny, engine.nx).copy()
        h = engine.h_arr.copy()
        for y in range(engine.ny):
            for x in range(x0, x0 + w):
                top = h[y * engine.nx + x]
                st[top - d:top, y, x] = SOFT if defect == "soft" else EMPTY
        engine.load_lattice(st.reshape(-1), h)
    return engine, units, box


def strip_for(engine, t_s):
    """Strip (engine.set_mode("strip")) until the engine clock reaches t_s (s). RuntimeError
    if the run stops for any other reason (no events left, lattice overflow, ...)."""
    engine.set_mode("strip")
    inf = float("inf")
    while engine.t < t_s:
        reason = STOP_REASONS[engine.advance(MAX_EVENTS, t_s, 2**62, inf)]
        if reason == "time":
            break
        if reason != "events":
            raise RuntimeError(f"strip stopped at t = {engine.t:.3g} s: {reason}")


def contact_after(defect, j_mA_cm2, seed, width_frac=0.2, t_s=120.0, pressure_MPa=1.0,
                  size_um=SIZE_UM, voxel_um=0.1, thick_um=4.0):
    """Contact of the separator face after stripping for t_s (s) at j_mA_cm2 (mA/cm2), with
    one interfacial defect (see build_defect_engine). Returns fractions of the face:
    contact_active (Li), contact_soft (Na), contact_fraction (all conducting contact), and
    stripped_um (mean Li thickness stripped, um)."""
    engine, units, _ = build_defect_engine(defect, j_mA_cm2, seed, width_frac, pressure_MPa,
                                           size_um, voxel_um, thick_um)
    strip_for(engine, t_s)
    c = obs.contact(engine)
    return {"contact_active": c["contact_active"], "contact_soft": c["contact_soft"],
            "contact_fraction": c["contact_fraction"],
            "stripped_um": engine.n_stripped * units.a_um / engine.ncol}


def sweep(currents=CURRENTS, seeds=(1, 2, 3), defects=("soft", "void", "none"), **kw):
    """One row per (defect, j): defect, j_mA_cm2 (mA/cm2), n (seeds), li_mean, li_min, li_max
    (contact_active over seeds), soft_mean, total_mean (contact_soft, contact_fraction) and
    stripped_um (mean). kw goes to contact_after (width_frac, t_s, pressure_MPa, ...)."""
    rows = []
    for defect in defects:
        for j in currents:
            runs = [contact_after(defect, j, s, **kw) for s in seeds]
            li = np.array([r["contact_active"] for r in runs])
            rows.append({"defect": defect, "j_mA_cm2": float(j), "n": len(runs),
                         "li_mean": float(li.mean()), "li_min": float(li.min()),
                         "li_max": float(li.max()),
                         "soft_mean": float(np.mean([r["contact_soft"] for r in runs])),
                         "total_mean": float(np.mean([r["contact_fraction"] for r in runs])),
                         "stripped_um": float(np.mean([r["stripped_um"] for r in runs]))})
    return rows


def format_row(r):
    """One printed line of a sweep row."""
    return (f"{r['defect']:<5} j {r['j_mA_cm2']:.2f} mA/cm2: Li contact {r['li_mean']:.3f} "
            f"({r['li_min']:.2f}-{r['li_max']:.2f}), Na {r['soft_mean']:.3f}, "
            f"all {r['total_mean']:.3f}, stripped {r['stripped_um']:.3f} um")


def make_figure(rows, png, title):
    """(a) Li contact and (b) all conducting contact vs current density, one curve per
    defect (mean over seeds; (a) bars = min-max over seeds, markers nudged 3 % in j so that
    the bars do not overlap). Writes png and a .pdf beside it; returns png."""
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.4), layout="constrained", sharey=True)
    panels = (("(a) Li contact after the strip", "li_mean", True),
              ("(b) All conducting contact (Li + Na)", "total_mean", False))
    for ax, (name, key, bars) in zip(axes, panels):
        ax.set_title(name, loc="left", fontweight="bold", fontsize=10)
        for defect, label in DEFECTS.items():
            rs = [r for r in rows if r["defect"] == defect]
            if not rs:
                continue
            color, marker, ls, nudge = STYLE[defect]
            j = np.array([r["j_mA_cm2"] for r in rs]) * nudge
            y = np.array([r[key] for r in rs])
            if bars:
                err = np.array([[r["li_mean"] - r["li_min"] for r in rs],
                                [r["li_max"] - r["li_mean"] for r in rs]])
                ax.errorbar(j, y, yerr=err, color=color, marker=marker, ls=ls, lw=1.2, ms=5,
                            capsize=3, label=label)
            else:
                ax.plot(j, y, color=color, marker=marker, ls=ls, lw=1.2, ms=5, label=label)
        ax.set_xscale("log")
        js = sorted({r["j_mA_cm2"] for r in rows})
        ax.set_xticks(js, [f"{v:g}" for v in js])
        ax.minorticks_off()
        ax.set_xlabel("Current density (mA/cm$^2$)")
        ax.set_ylim(-0.02, 1.05)
    axes[0].set_ylabel("Fraction of separator face")
    axes[0].legend(loc="lower left", fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=9)
    png = Path(png)
    save_figure(fig, png)
    plt.close(fig)
    return png


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default="results/defect_contact", metavar="OUT",
                    help="output folder for defect_contact.png/.pdf")
    ap.add_argument("--seeds", type=int, default=3, metavar="N", help="seeds 1..N (default 3)")
    ap.add_argument("--currents", type=float, nargs="+", default=list(CURRENTS),
                    metavar="J", help="current densities, mA/cm2")
    ap.add_argument("--size-um", type=float, default=SIZE_UM, metavar="L",
                    help=f"lateral size of the 2D lattice, um (default {SIZE_UM:g})")
    args = ap.parse_args(argv)
    if args.seeds < 1 or min(args.currents) <= 0:
        ap.error("--seeds must be >= 1 and currents > 0")
    t_s, width, p = 120.0, 0.2, 1.0
    wall = time.perf_counter()
    rows = sweep(args.currents, tuple(range(1, args.seeds + 1)), width_frac=width, t_s=t_s,
                 pressure_MPa=p, size_um=args.size_um)
    _, w, d = defect_box(round(args.size_um / 0.1), 40, width)
    title = (f"2D Li (4 um) | LPSC, {p:g} MPa, L = {args.size_um:g} um, voxel 0.1 um; one "
             f"defect {w * 0.1:g} x {d * 0.1:g} um (w/L = {width:g}); {t_s / 60:g} min strip; "
             f"{args.seeds} seed(s)")
    print(f"# {title}")
    for r in rows:
        print(format_row(r))
    png = make_figure(rows, Path(args.out) / "defect_contact.png", title)
    print(f"{png}  ({time.perf_counter() - wall:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
