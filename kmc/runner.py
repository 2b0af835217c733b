"""Run a configuration through its plate/strip protocol, with outputs and checkpoints.

Output folder layout (all files written atomically):
  config.toml       resolved configuration        config.sha256   its hash
  timeseries.csv    rows at output.timeseries_interval_s and at every half-cycle end
  summary.json      per-cycle records, inventory, provenance ("complete": true when done)
  snapshots/*.npz   lattice states (state[nz, ny, nx], h[ny, nx]) for analysis/
  checkpoint.npz    everything needed to continue bit-identically (kmc resume OUTDIR)

The protocol only ever stops the engine at simulated times fixed by the config (row cadence,
snapshot cadence, time caps) or after whole events, so a run that is checkpointed and resumed
draws exactly the same random numbers as one that is not.
"""
import csv
import io
import json
import math
import shutil
import signal
import time
from pathlib import Path

import numpy as np

from kmc import __version__
from kmc import observables as obs
from kmc._engine import STOP_REASONS
from kmc.config import config_hash, resolved_toml, validate
from kmc.io import savez_atomic, write_json_atomic, write_text_atomic
from kmc.lattice import build
from kmc.potential import PotentialSolver

CHUNK_EVENTS = 200_000   # events per engine call between progress/signal checks
ROW_FIELDS = ("t_s", "cycle", "half", "charge_mAh_cm2", "half_charge_mAh_cm2", "voltage_V",
              "contact_fraction", "contact_active", "contact_collector", "contact_seed",
              "contact_soft", "contact_dead", "void_fraction_interface", "dead_mAh_cm2",
              "in_seed_mAh_cm2", "stripped_depth_um", "events")
CHECKPOINT = "checkpoint.npz"
SUMMARY = "summary.json"


class RunError(Exception):
    """A run cannot start or continue (exists already, lattice too short, broken invariant)."""


class Interrupted(Exception):
    """SIGTERM/SIGINT arrived; a checkpoint has been written."""


class Run:
    """One simulation: engine + protocol position + collected outputs."""

    def __init__(self, cfg, outdir):
        self.cfg = cfg
        self.outdir = Path(outdir)
        self.engine, self.units, surface = build(cfg)
        self.initial_voxels = self.engine.n_metal     # the starting electrode (metal-excess)
        self.pores = obs.below_surface(self.engine, surface)
        p = cfg["protocol"]
        self.ncol = self.engine.ncol
        self.layer = self.units.mAh_cm2_per_layer
        self.plate_voxels = round(p["plate_capacity_mAh_cm2"] / self.layer * self.ncol)
        self.dt_row = cfg["output"]["timeseries_interval_s"]
        self.dt_snap = cfg["output"]["snapshot_interval_s"]
        # protocol position (all of it goes into checkpoints)
        self.pos = {"cycle": 1, "half": "plate", "half_t0": 0.0, "plated0": 0, "stripped0": 0,
                    "row_k": 1, "snap_k": 1, "nucleus_max": 0.0, "plate_record": None,
                    "next_solve": -1, "wall_s": 0.0, "done": False}
        self.rows = []
        self.cycles = []
        # potential solver and its cadence (echem events between solves; 0 = never)
        self.solve_every = round(cfg["kinetics"]["potential_update_layers"] * self.ncol)
        self.potential = PotentialSolver(cfg, self.units, self.engine)
        self.engine.set_mode("plate")
        self.update_potential()

    # ------------------------------------------------------------------ conversions
    def mAh(self, voxels):
        return self.units.voxels_to_mAh_cm2(voxels, self.ncol)

    def update_potential(self):
        """Solve the electrolyte potential for the present contacts and hand the engine its
        local current factors; schedule the next solve."""
        if self.solve_every <= 0:
            return
        e = self.engine
        e.set_local_factors(self.potential.local_factors(e))
        self.pos["next_solve"] = e.n_echem + self.solve_every

    def cutoff_holds(self, v_cutoff):
        """Whether a voltage cutoff (V) that advance() reported still holds with the potential
        solved for the present contacts. Between solves the local current factors are
        those of the last solve: once the columns that carried the current are stripped
        away, the ones left may carry almost none of it and the voltage reads a spurious
        cutoff (measured: the NPS foil at 0.185 mS/cm, seed 5, stopped at 48 % and strips
        68 % with this check; 0.86 V, not 2 V, once solved again)."""
        if self.solve_every <= 0:
            return True
        self.update_potential()
        return self.engine.exceeds_cutoff(v_cutoff)

    # ------------------------------------------------------------------ outputs
    def record_row(self):
        e = self.engine
        c = obs.contact(e)
        half_charge = (e.n_plated - self.pos["plated0"] if self.pos["half"] == "plate"
                       else e.n_stripped - self.pos["stripped0"])
        self.rows.append({
            "t_s": e.t, "cycle": self.pos["cycle"], "half": self.pos["half"],
            "charge_mAh_cm2": self.mAh(e.n_plated - e.n_stripped),
            "half_charge_mAh_cm2": self.mAh(half_charge), "voltage_V": e.voltage(),
            "contact_fraction": c["contact_fraction"], "contact_active": c["contact_active"],
            "contact_collector": c["contact_collector"], "contact_seed": c["contact_seed"],
            "contact_soft": c["contact_soft"], "contact_dead": c["contact_dead"],
            "void_fraction_interface": c["void_fraction_interface"],
            "dead_mAh_cm2": self.mAh(e.n_dead), "in_seed_mAh_cm2": self.mAh(e.n_in_seed),
            "stripped_depth_um": (half_charge * self.units.a_um / self.ncol
                                  if self.pos["half"] == "strip" else 0.0),
            "events": e.n_events})
        if self.pos["half"] == "plate":
            self.pos["nucleus_max"] = max(self.pos["nucleus_max"], obs.nucleus_density_um2(
                e, self.units.a_um, self.cfg["nucleation"]["critical_size"]))

    def snapshot(self, tag):
        e = self.engine
        (self.outdir / "snapshots").mkdir(exist_ok=True)
        savez_atomic(self.outdir / "snapshots" / f"{tag}.npz",
                     state=obs.lattice_view(e), h=e.h_arr.reshape(e.ny, e.nx),
                     t_s=e.t, cycle=self.pos["cycle"], half=self.pos["half"],
                     voxel_um=self.units.a_um, collector_layers=e.zc)

    def write_timeseries(self):
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=ROW_FIELDS, lineterminator="\n")
        w.writeheader()
        for r in self.rows:
            w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
        write_text_atomic(self.outdir / "timeseries.csv", buf.getvalue())

    def summary(self, complete):
        e = self.engine
        err = obs.check_inventory(e, self.initial_voxels, self.pores)
        if err:
            raise RunError(err)
        echem = max(e.n_echem, 1)
        inv = obs.inventory(e, self.initial_voxels, self.pores)
        return {
            "complete": complete, "version": __version__, "seed": self.cfg["run"]["seed"],
            "config_hash": config_hash(self.cfg), "name": self.cfg["run"]["name"],
            "cycles": self.cycles, "inventory": inv,
            "inventory_mAh_cm2": {k: self.mAh(v) for k, v in inv.items()},
            "events": e.n_events,
            "events_by_channel": {"thermal": e.n_thermal, "creep": e.n_creep,
                                  "echem": e.n_echem, "interphase": e.n_sei},
            "stiffness_nonechem_per_echem": (e.n_thermal + e.n_creep + e.n_sei) / echem,
            "connectivity_searches": e.n_connectivity_searches,
            "t_s": e.t,
            "lattice": {"nx": e.nx, "ny": e.ny, "nz": e.nz, "voxel_um": self.units.a_um,
                        "voxel_charge_C": self.units.q_C,
                        "layer_mAh_cm2": self.layer},
            "wall_s": self.pos["wall_s"],
        }

    def write_summary(self, complete):
        write_json_atomic(self.outdir / SUMMARY, self.summary(complete))

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self):
        e = self.engine
        meta = {"pos": self.pos, "rows": self.rows, "cycles": self.cycles,
                "counters": e.get_counters(), "rng": e.bitgen.state,
                "config_hash": config_hash(self.cfg)}
        savez_atomic(self.outdir / CHECKPOINT, state=e.state_arr, h=e.h_arr, load=e.load_arr,
                     local_factors=e.lf_arr,
                     meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
        self.write_timeseries()

    def restore(self, path):
        with np.load(path) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            state, h = z["state"].copy(), z["h"].copy()
            load, lf = z["load"].copy(), z["local_factors"].copy()
        if meta["config_hash"] != config_hash(self.cfg):
            raise RunError(f"{path}: checkpoint belongs to another configuration")
        self.pos, self.rows, self.cycles = meta["pos"], meta["rows"], meta["cycles"]
        e = self.engine
        e.set_counters(meta["counters"])
        e.load_lattice(state, h, load, lf, floor=e.floor_arr.copy(), base=e.base_arr.copy())
        e.set_mode(self.pos["half"] if not self.pos["done"] else "rest")
        e.bitgen.state = meta["rng"]

    # ------------------------------------------------------------------ the protocol
    def half_end(self, reason):
        e, pos = self.engine, self.pos
        self.record_row()
        self.snapshot(f"cycle{pos['cycle']:04d}_{pos['half']}_end")
        duration_h = (e.t - pos["half_t0"]) / 3600.0
        if pos["half"] == "plate":
            rec = {"cycle": pos["cycle"], "plated_mAh_cm2": self.mAh(e.n_plated - pos["plated0"]),
                   "plate_end": reason, "plate_duration_h": duration_h,
                   "nucleus_density_um2": pos["nucleus_max"],
                   "nucleation_overpotential_mV": self.nucleation_overpotential_mV()}
            rec.update(obs.thickness_stats(e, self.units.a_um))
            rec["contact_fraction_end_of_plate"] = obs.contact(e)["contact_fraction"]
            rec["seed_at_interface_end_of_plate"] = obs.seed_at_interface(e)
            pos["plate_record"] = rec
            pos.update(half="strip", stripped0=e.n_stripped)
            e.set_mode("strip")
            self.update_potential()
        else:
            rec = dict(pos["plate_record"])
            stripped = self.mAh(e.n_stripped - pos["stripped0"])
            c = obs.contact(e)
            isl = obs.islands(e, self.units.a_um)
            rec.update({
                "stripped_mAh_cm2": stripped, "strip_end": reason, "strip_duration_h": duration_h,
                "stripped_voxels": e.n_stripped - pos["stripped0"],
                "ce": stripped / rec["plated_mAh_cm2"] if rec["plated_mAh_cm2"] > 0 else None,
                "contact_fraction_end_of_strip": c["contact_fraction"],
                "void_fraction_interface_end_of_strip": c["void_fraction_interface"],
                "soft_coverage_end_of_strip": c["contact_soft"],
                "dead_mAh_cm2": self.mAh(e.n_dead),
                "trapped_mAh_cm2": self.mAh(obs.trapped(e, self.pores)),
                "interphase_mAh_cm2": self.mAh(obs.interphase_voxels(e)),
                "interphase_thickness_um": obs.interphase_thickness_um(e, self.units.a_um),
                "residual_active_mAh_cm2": self.mAh(e.n_metal),
                "in_seed_mAh_cm2": self.mAh(e.n_in_seed),
                "seed_coverage_end_of_strip": obs.seed_coverage(e),
                "islands_end_of_strip": len(isl),
                "island_area_um2_end_of_strip": [a for a, _ in isl[:100]],
            })
            self.cycles.append(rec)
            if pos["cycle"] >= self.cfg["protocol"]["cycles"]:
                pos["done"] = True
                e.set_mode("rest")
            else:
                pos.update(cycle=pos["cycle"] + 1, half="plate", plated0=e.n_plated,
                           nucleus_max=0.0)
                e.set_mode("plate")
                self.update_potential()
                self.record_row()
            self.write_summary(complete=pos["done"])
        pos["half_t0"] = e.t

    def nucleation_overpotential_mV(self):
        """Depth of the nucleation dip of this plating (mV): the largest |V| over its first
        20 % of charge minus the median |V| over 20-60 % (the growth plateau)."""
        cap = self.cfg["protocol"]["plate_capacity_mAh_cm2"]
        rows = [r for r in self.rows if r["cycle"] == self.pos["cycle"] and r["half"] == "plate"
                and math.isfinite(r["voltage_V"])]
        early = [abs(r["voltage_V"]) for r in rows if r["half_charge_mAh_cm2"] <= 0.2 * cap]
        mid = [abs(r["voltage_V"]) for r in rows
               if 0.2 * cap < r["half_charge_mAh_cm2"] <= 0.6 * cap]
        if not early or not mid:
            return None
        return 1000.0 * max(0.0, max(early) - float(np.median(mid)))

    def plate_target(self):
        """n_plated (voxels) at which this plating has its capacity: the configured capacity,
        or with protocol.replate_stripped what the previous strip recovered."""
        if self.cfg["protocol"]["replate_stripped"] and self.cycles:
            return self.pos["plated0"] + self.cycles[-1]["stripped_voxels"]
        return self.pos["plated0"] + self.plate_voxels

    def half_limits(self):
        """Charge target (voxels) of the current half-cycle: the plate capacity, or the charge a
        time cap allows at the set current (galvanostatic time = charge / current, so the cap
        cannot cut a half-cycle short by the Poisson noise of the kMC clock)."""
        p, pos = self.cfg["protocol"], self.pos
        if pos["half"] == "plate":
            target = self.plate_target()
            if p["plate_time_cap_h"] > 0:
                target = min(target, pos["plated0"] + self.cap_voxels(p["plate_time_cap_h"]))
            return target
        return pos["stripped0"] + self.cap_voxels(p["strip_time_cap_h"])

    def end_reason(self, stop):
        """Why a half-cycle ended: 'capacity' (plate), 'voltage_cutoff', 'time_cap', or
        'exhausted': no event left, or a strip that left no active metal and nothing held in
        seeds (everything strippable recovered, whether the voltage or the time cap's charge
        then stopped it)."""
        e = self.engine
        if self.pos["half"] == "strip" and e.n_metal == 0 and e.n_in_seed == 0:
            return "exhausted"
        if stop == "charge":
            return "capacity" if e.n_plated >= self.plate_target() else "time_cap"
        return {"voltage": "voltage_cutoff", "no_events": "exhausted"}[stop]

    def cap_voxels(self, hours):
        """Voxels passed in `hours` at the set current density."""
        q = self.cfg["protocol"]["current_density_mA_cm2"] * hours
        return round(q / self.layer * self.ncol)

    def drive(self, progress=True, stop_flag=None):
        """Advance to the end of the protocol; checkpoints on the wall-clock cadence and when
        stop_flag() turns true (then raises Interrupted)."""
        from tqdm import tqdm
        e, pos, cfg = self.engine, self.pos, self.cfg
        vcut = cfg["protocol"]["voltage_cutoff_V"]
        every = cfg["output"]["checkpoint_interval_wall_s"]
        ncyc = cfg["protocol"]["cycles"]
        wall0 = time.perf_counter()
        wall_base = pos["wall_s"]
        last_ckpt = wall0
        done_halves = 2 * (pos["cycle"] - 1) + (pos["half"] == "strip")
        bar = tqdm(total=2 * ncyc, initial=min(done_halves, 2 * ncyc), unit="half-cycle",
                   disable=not progress, dynamic_ncols=True, leave=True)
        ev0, w0 = e.n_events, wall0
        try:
            while not pos["done"]:
                target = self.half_limits()
                t_row = pos["row_k"] * self.dt_row
                t_snap = pos["snap_k"] * self.dt_snap if self.dt_snap > 0 else math.inf
                reason = STOP_REASONS[e.advance(CHUNK_EVENTS, min(t_row, t_snap), target, vcut,
                                                pos["next_solve"])]
                if reason == "echem":
                    self.update_potential()
                elif reason == "voltage" and not self.cutoff_holds(vcut):
                    reason = "events"                   # the strip (or plating) goes on
                elif reason == "overflow":
                    raise RunError("the deposit reached the top of the lattice: raise "
                                   "lattice.headroom_um")
                if reason == "time":
                    if e.t >= t_row:
                        self.record_row()
                        pos["row_k"] += 1
                    if e.t >= t_snap:
                        self.snapshot(f"t{e.t:012.1f}s")
                        pos["snap_k"] += 1
                elif reason not in ("events", "echem"):
                    self.half_end(self.end_reason(reason))
                    bar.update(1)
                    bar.set_description(f"cycle {pos['cycle']}/{ncyc} {pos['half']}")
                now = time.perf_counter()
                pos["wall_s"] = wall_base + now - wall0
                if progress and now - w0 > 0.5:
                    bar.set_description(f"cycle {pos['cycle']}/{ncyc} {pos['half']}")
                    bar.set_postfix_str(
                        f"q={self.mAh(e.n_plated - e.n_stripped):.3f} mAh/cm2 "
                        f"t={e.t / 3600:.2f} h V={e.voltage():+.3f} "
                        f"{(e.n_events - ev0) / (now - w0):.3g} ev/s", refresh=True)
                    ev0, w0 = e.n_events, now
                if stop_flag is not None and stop_flag():
                    self.checkpoint()
                    raise Interrupted()
                if now - last_ckpt > every:
                    self.checkpoint()
                    last_ckpt = now
        finally:
            bar.close()
        self.write_timeseries()
        self.write_summary(complete=True)
        (self.outdir / CHECKPOINT).unlink(missing_ok=True)


class SignalFlag:
    """Turn SIGTERM/SIGINT into a flag the protocol loop polls between engine calls."""

    def __init__(self):
        self.flag = False
        self.saved = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.saved[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.flag = True

    def __exit__(self, *exc):
        for sig, h in self.saved.items():
            signal.signal(sig, h)


def _execute(run, progress):
    with SignalFlag() as sig:
        try:
            run.drive(progress=progress, stop_flag=lambda: sig.flag)
        except Interrupted:
            print(f"interrupted: checkpoint written; continue with: kmc resume {run.outdir}")
            return 130
    s = run.cycles
    for rec in s:
        ce = "n/a" if rec["ce"] is None else f"{100 * rec['ce']:.2f} %"
        print(f"cycle {rec['cycle']}: plated {rec['plated_mAh_cm2']:.4f} stripped "
              f"{rec['stripped_mAh_cm2']:.4f} mAh/cm2  CE {ce}  contact "
              f"{rec['contact_fraction_end_of_strip']:.3f}  dead {rec['dead_mAh_cm2']:.4f} mAh/cm2")
    print(f"results: {run.outdir}")
    return 0


def run_new(cfg, outdir, force=False, progress=True):
    """Start a run in outdir (refuses an existing non-empty outdir unless force)."""
    outdir = Path(outdir)
    if outdir.exists() and any(outdir.iterdir()):
        if not force:
            raise RunError(f"{outdir} already holds results; use --force to overwrite "
                           f"or 'kmc resume {outdir}' to continue")
        shutil.rmtree(outdir)
    run = Run(cfg, outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(outdir / "config.toml", resolved_toml(cfg))
    write_text_atomic(outdir / "config.sha256", config_hash(cfg) + "\n")
    run.record_row()
    return _execute(run, progress)


def resume(outdir, progress=True):
    """Continue a run from its checkpoint (a finished run is reported and left alone)."""
    import tomllib
    outdir = Path(outdir)
    cfg_path = outdir / "config.toml"
    if not cfg_path.exists():
        raise RunError(f"{outdir}: no config.toml, not a run folder")
    cfg = validate(tomllib.loads(cfg_path.read_text()))
    summ = outdir / SUMMARY
    if summ.exists() and json.loads(summ.read_text()).get("complete"):
        print(f"{outdir}: already complete")
        return 0
    ckpt = outdir / CHECKPOINT
    run = Run(cfg, outdir)
    if ckpt.exists():
        run.restore(ckpt)
    else:
        # killed before the first checkpoint: start over from the beginning
        run.record_row()
    return _execute(run, progress)
