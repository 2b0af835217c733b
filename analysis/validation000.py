"""Papers 000/003 validation rows: Na anode-free cells (collectors, pressure, temperature,
capacity, interphases). Runs the seed ensembles (if missing) and writes its section of
docs/validation.md.

    python analysis/validation000.py [--run] [--seeds 4] [--jobs 2]
                                     [--results results/paper000] [--out docs/validation.md]

Each condition (below) is run for seeds 1..N into RESULTS/<condition>/seedNN (finished runs
are kept, interrupted ones resumed). The table gives, per acceptance check of issue 5, the
paper value, the simulated mean with its 95 % bootstrap CI over seeds, and pass/fail.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from analysis.report import replace_section, run_all  # noqa: E402
from analysis.validation import collect, metric  # noqa: E402

SECTION = "# Validation against papers 000 and 003"
RETENTION_CYCLES = 10
# condition -> (config, --set overrides)
CONDITIONS = {
    "al_pellet": ("paper000_al_pellet", [f"protocol.cycles={RETENTION_CYCLES}"]),
    "al_foil": ("paper000_al_foil", []),
    "cu_pellet": ("paper000_cu_pellet", [f"protocol.cycles={RETENTION_CYCLES}"]),
    "ti_pellet": ("paper000_ti_pellet", [f"protocol.cycles={RETENTION_CYCLES}"]),
    "al_foil_nps": ("paper000_al_foil_nps", []),
    "al_pellet_p5": ("paper000_al_pellet", ["cell.stack_pressure_MPa=5"]),
    "al_pellet_p15": ("paper000_al_pellet", ["cell.stack_pressure_MPa=15"]),
    "al_pellet_p20": ("paper000_al_pellet", ["cell.stack_pressure_MPa=20"]),
    "al_pellet_40C_p1": ("paper000_al_pellet", ["cell.temperature_K=313.15",
                                                "cell.stack_pressure_MPa=1"]),
    "al_pellet_40C_p5": ("paper000_al_pellet", ["cell.temperature_K=313.15",
                                                "cell.stack_pressure_MPa=5"]),
    "al_pellet_40C_p10": ("paper000_al_pellet", ["cell.temperature_K=313.15"]),
    "al_pellet_q1": ("paper000_al_pellet", ["protocol.plate_capacity_mAh_cm2=1"]),
    "al_pellet_q7": ("paper000_al_pellet", ["protocol.plate_capacity_mAh_cm2=7"]),
    "p003_nbh": ("paper003_nbh", []),
    "p003_nps": ("paper003_nps", []),
    "p003_nyzc": ("paper003_nyzc", []),
}


def run_one(cond, seed, results):
    out = results / cond / f"seed{seed:02d}"
    summ = out / "summary.json"
    if summ.exists() and json.loads(summ.read_text()).get("complete"):
        return out
    cfg, sets = CONDITIONS[cond]
    if (out / "config.toml").exists():
        cmd = ["resume", str(out), "--no-progress"]
    else:
        cmd = ["run", f"runs/{cfg}.toml", "-o", str(out), "--seed", str(seed),
               "--no-progress", "--force"]
        for s in sets:
            cmd += ["--set", s]
    subprocess.run([sys.executable, "-m", "kmc", *cmd], check=True, stdout=subprocess.DEVNULL)
    return out


def fmt(m, digits=1):
    return f"{m[0]:.{digits}f} [{m[1]:.{digits}f}, {m[2]:.{digits}f}]"


def table(results, seeds):
    R = {c: collect(results, c, seeds) for c in CONDITIONS}

    def stat(values):
        return metric([v for v in values if v is not None], lambda v: v)

    ice = {c: stat([100 * r[0]["ce"] for r in R[c] if r and r[0]["ce"] is not None])
           for c in CONDITIONS}
    ret = {c: stat([100 * float(np.prod([x["ce"] for x in r])) for r in R[c]
                    if len(r) == RETENTION_CYCLES]) for c in ("al_pellet", "cu_pellet",
                                                              "ti_pellet")}
    trapped = {c: stat([r[0]["trapped_mAh_cm2"] for r in R[c] if r])
               for c in ("cu_pellet", "ti_pellet")}
    sei = {c: stat([r[0]["interphase_thickness_um"] for r in R[c] if r])
           for c in ("p003_nbh", "p003_nps", "p003_nyzc")}
    rows = []

    def row(target, paper, sim, ok):
        rows.append(f"| {target} | {paper} | {sim} | {'pass' if ok else 'FAIL'} |")

    per_seed = [(a[0]["ce"], b[0]["ce"]) for a, b in zip(R["al_pellet"], R["al_foil"])]
    row("NBH: ICE Al pellet (%)", "93 (target 88-97)", fmt(ice["al_pellet"]),
        88 <= ice["al_pellet"][0] <= 97)
    row("NBH: ICE Al foil (%)", "64 (target 50-78)", fmt(ice["al_foil"]),
        50 <= ice["al_foil"][0] <= 78)
    row("NBH: pellet > foil in every seed", "93 > 64",
        f"{sum(a > b for a, b in per_seed)} of {len(per_seed)} seeds",
        bool(per_seed) and all(a > b for a, b in per_seed))
    row("Al foil: ICE with NPS (%)", "4 (target < 20)", fmt(ice["al_foil_nps"]),
        ice["al_foil_nps"][0] < 20)
    row("Al foil: NBH > NPS", "64 > 4",
        f"{ice['al_foil'][0]:.1f} vs {ice['al_foil_nps'][0]:.1f}",
        ice["al_foil"][0] > ice["al_foil_nps"][0])
    row(f"retention after {RETENTION_CYCLES} cycles: Al > Cu > Ti pellet (%)", "Al > Cu > Ti",
        " / ".join(fmt(ret[c]) for c in ret),
        ret["al_pellet"][0] > ret["cu_pellet"][0] > ret["ti_pellet"][0])
    row("trapped Na after cycle 1, Cu and Ti pellets (mAh/cm2)", "> 0",
        " / ".join(fmt(trapped[c], 4) for c in trapped),
        all(trapped[c][0] > 0 for c in trapped))
    p = {k: ice[f"al_pellet_p{k}"][0] if k != 10 else ice["al_pellet"][0] for k in (5, 10, 15, 20)}
    row("RT: ICE at 5 MPa < 10 MPa; 10/15/20 within 1 point", "5 MPa worse; no gain above 10",
        " / ".join(f"{k} MPa {v:.2f}" for k, v in p.items()),
        p[5] < p[10] and max(p[10], p[15], p[20]) - min(p[10], p[15], p[20]) <= 1)
    w = {k: ice[f"al_pellet_40C_p{k}"][0] for k in (1, 5, 10)}
    row("40 C: 1 and 5 MPa within 2 points of 10 MPa", "similar efficiencies",
        " / ".join(f"{k} MPa {v:.2f}" for k, v in w.items()),
        abs(w[1] - w[10]) <= 2 and abs(w[5] - w[10]) <= 2)
    q = {k: ice[f"al_pellet_q{k}"][0] if k != 3 else ice["al_pellet"][0] for k in (1, 3, 7)}
    row("Al pellet: ICE at 1/3/7 mAh/cm2 within 3 points", "nearly identical",
        " / ".join(f"{k}: {v:.2f}" for k, v in q.items()),
        max(q.values()) - min(q.values()) <= 3)
    row("interphase after one cycle: NYZC > NPS > NBH ~ 0 (um)", "90 > 10 > 0",
        " / ".join(f"{c[5:].upper()} {fmt(sei[c], 2)}" for c in sei),
        sei["p003_nyzc"][0] > sei["p003_nps"][0] > sei["p003_nbh"][0] and sei["p003_nbh"][0] < 0.1)
    n = ", ".join(f"{c} {len(R[c])}" for c in CONDITIONS)
    head = [SECTION + " (Na anode-free cells)", "",
            "Generated by `python analysis/validation000.py --run`; do not edit by hand. "
            "Runs: runs/paper000_*.toml and runs/paper003_*.toml (2D cross-sections, 128 um "
            "wide, the foils 512 um, 1 um voxels) with the overrides listed in "
            "analysis/validation000.py. "
            "Simulated values: mean [95 % bootstrap CI] over seeds; seeds per condition: "
            + n + ".", "", "| target | paper | simulated | status |", "|---|---|---|---|"]
    return "\n".join(head + rows) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="store_true", help="run missing replicas first")
    # (the foils' ICE spreads over ~20 points from seed to seed: --seeds 8 for a tighter
    # mean, ~50 min on two cores against ~27 min for 4)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--results", type=Path, default=Path("results/paper000"))
    ap.add_argument("--out", type=Path, default=Path("docs/validation.md"))
    args = ap.parse_args(argv)
    seeds = list(range(1, args.seeds + 1))
    if args.run:
        run_all([(c, s, args.results) for s in seeds for c in CONDITIONS], run_one, args.jobs)
    text = table(args.results, seeds)
    replace_section(args.out, SECTION, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
