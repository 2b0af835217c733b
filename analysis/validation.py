"""Paper-001 validation table: run the seed ensembles (if missing) and write docs/validation.md.

    python analysis/validation.py [--run] [--seeds 8] [--cycles 5] [--jobs 2]
                                  [--results results/paper001] [--out docs/validation.md]

Each condition (bare Cu, 100 nm Ag, 100 nm Au: runs/paper001_{cu,ag,au}.toml) is run for
seeds 1..N into RESULTS/<condition>/seedNN (finished runs are kept, interrupted ones resumed).
The table gives, per target of issue 3 / SEED_FACTS s7, the paper value, the simulated mean
with its 95 % bootstrap confidence interval over seeds, and pass/fail.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from analysis.aggregate import mean_ci                         # noqa: E402
from analysis.island_overpotential import island_eta          # noqa: E402
from analysis.report import replace_section, run_all                    # noqa: E402
from kmc.config import load_materials                          # noqa: E402

CONDITIONS = {"cu": "bare Cu", "ag": "100 nm Ag", "au": "100 nm Au"}
SECTION = "# Validation against paper 001"


def run_one(cond, seed, cycles, results):
    out = results / cond / f"seed{seed:02d}"
    summ = out / "summary.json"
    if summ.exists() and json.loads(summ.read_text()).get("complete"):
        return out
    if (out / "config.toml").exists():
        cmd = ["kmc", "resume", str(out), "--no-progress"]
    else:
        cmd = ["kmc", "run", f"runs/paper001_{cond}.toml", "-o", str(out), "--seed", str(seed),
               "--set", f"protocol.cycles={cycles}", "--no-progress", "--force"]
    subprocess.run([sys.executable, "-m", "kmc", *cmd[1:]], check=True,
                   stdout=subprocess.DEVNULL)
    return out


def collect(results, cond, seeds):
    recs = []
    for s in seeds:
        p = results / cond / f"seed{s:02d}" / "summary.json"
        if p.exists():
            summary = json.loads(p.read_text())
            if summary.get("complete"):
                recs.append(summary["cycles"])
    return recs


def metric(recs, fn):
    return mean_ci([fn(r) for r in recs])


def fmt(m, scale=1.0, digits=2):
    mean, lo, hi = (v * scale for v in m)
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def table(results, seeds):
    R = {c: collect(results, c, seeds) for c in CONDITIONS}
    n = {c: len(R[c]) for c in CONDITIONS}
    ce1 = {c: metric(R[c], lambda r: r[0]["ce"]) for c in CONDITIONS}
    nuc = {c: metric(R[c], lambda r: r[0]["nucleation_overpotential_mV"]) for c in CONDITIONS}
    unif = {c: metric(R[c], lambda r: r[0]["thickness_std_um"] / max(r[0]["thickness_mean_um"], 1e-12))
            for c in CONDITIONS}
    c5 = {c: metric(R[c], lambda r: r[4]["contact_fraction_end_of_strip"] if len(r) >= 5 else None)
          for c in CONDITIONS}
    at_face = {c: metric(R[c], lambda r: r[0].get("seed_at_interface_end_of_plate"))
               for c in ("ag", "au")}
    cov = {c: {k: metric(R[c], lambda r, k=k: r[k - 1].get("seed_coverage_end_of_strip")
                         if len(r) >= k else None) for k in (1, 5)} for c in ("ag", "au")}
    kin = load_materials("li_lpsc")["kinetics"]
    eta = {w: island_eta(w, 0.25, kin["exchange_current_mA_cm2"], kin["transfer_coefficient"],
                         kin["electrolyte_conductivity_mS_cm"]) for w in (20.0, 5.0)}
    rows = []

    def row(target, paper, sim, ok):
        rows.append(f"| {target} | {paper} | {sim} | {'pass' if ok else 'FAIL'} |")

    row("first-cycle CE, bare Cu (%)", "96.94 (target 95.0-98.5)", fmt(ce1["cu"], 100),
        95.0 <= 100 * ce1["cu"][0] <= 98.5)
    row("first-cycle CE, Ag (%)", "99.78 (target >= 99.5)", fmt(ce1["ag"], 100),
        100 * ce1["ag"][0] >= 99.5)
    row("first-cycle CE, Au (%)", "99.98 (target >= 99.5)", fmt(ce1["au"], 100),
        100 * ce1["au"][0] >= 99.5)
    row("CE ordering Au >= Ag > Cu", "99.98 >= 99.78 > 96.94",
        f"{100 * ce1['au'][0]:.2f} / {100 * ce1['ag'][0]:.2f} / {100 * ce1['cu'][0]:.2f}",
        ce1["au"][0] >= ce1["ag"][0] > ce1["cu"][0])
    row("nucleation overpotential, bare Cu (mV)", "~18 (target 10-30)", fmt(nuc["cu"], 1, 1),
        10 <= nuc["cu"][0] <= 30)
    for c in ("ag", "au"):
        row(f"nucleation overpotential, {CONDITIONS[c]} (mV)", "~0 (target < 5)",
            fmt(nuc[c], 1, 1), nuc[c][0] < 5)
    for c in ("ag", "au"):
        row(f"thickness std/mean after 1st plating, Cu vs {CONDITIONS[c]}",
            "Cu uneven, seeds uniform (Cu >= 2x)", f"{fmt(unif['cu'], 1, 3)} vs {fmt(unif[c], 1, 3)}",
            unif["cu"][0] >= 2 * unif[c][0])
    row("Au seed at the Li/SSE interface after 1st plating (fraction of the seed)",
        "about half, a monolayer of particles (target 0.3-0.7)", fmt(at_face["au"]),
        0.3 <= at_face["au"][0] <= 0.7)
    row("Ag seed at the Li/SSE interface after 1st plating (fraction of the seed)",
        "dissolved, few particles (target < 0.2)", fmt(at_face["ag"]), at_face["ag"][0] < 0.2)
    for c in ("ag", "au"):
        row(f"{CONDITIONS[c]} seed back on the Cu, end of strip 1 / 5 (fraction of the area "
            "covered)", "uniform after cycles 1-2, clumps after ~5 (target >= 0.9, then lower)",
            f"{fmt(cov[c][1], 1, 3)} / {fmt(cov[c][5], 1, 3)}",
            cov[c][1][0] >= 0.9 and cov[c][5][0] < cov[c][1][0])
    row("contact fraction end of 5th strip: Cu < Ag and Au", "Cu loses contact (EIS)",
        " / ".join(f"{CONDITIONS[c]} {fmt(c5[c], 1, 3)}" for c in CONDITIONS),
        c5["cu"][0] < c5["ag"][0] and c5["cu"][0] < c5["au"][0])
    row("island overpotential, 20 um (V)", "0.03 (+-30 %)", f"{eta[20.0]:.4f}",
        abs(eta[20.0] / 0.03 - 1) <= 0.3)
    row("island overpotential, 5 um (V)", "0.085 (+-30 %)", f"{eta[5.0]:.4f}",
        abs(eta[5.0] / 0.085 - 1) <= 0.3)
    head = [SECTION + " (alloy seed layers on Cu, Li6PS5Cl)", "",
            "Generated by `python analysis/validation.py --run`; do not edit by hand. "
            "Simulated values: mean [95 % bootstrap CI] over seeds; "
            f"seeds per condition: " + ", ".join(f"{CONDITIONS[c]} {n[c]}" for c in CONDITIONS)
            + ". Runs: runs/paper001_{cu,ag,au}.toml (3D, 6.4 x 6.4 um, 0.1 um voxels).", "",
            "| target | paper | simulated | status |", "|---|---|---|---|"]
    return "\n".join(head + rows) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="store_true", help="run missing replicas first")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--cycles", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--results", type=Path, default=Path("results/paper001"))
    ap.add_argument("--out", type=Path, default=Path("docs/validation.md"))
    args = ap.parse_args(argv)
    seeds = list(range(1, args.seeds + 1))
    if args.run:
        run_all([(c, s, args.cycles, args.results) for s in seeds for c in ("ag", "au", "cu")],
                run_one, args.jobs)
    text = table(args.results, seeds)
    replace_section(args.out, SECTION, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
