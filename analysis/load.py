"""Load the outputs of a kmc run folder (see kmc/runner.py for the layout).

Only numpy and the standard library are needed: the compiled engine is not imported, so run
folders can be analysed on a machine without a build.

    run = load_run("results/quickstart")
    run["summary"]["cycles"][0]["ce"]          # per-cycle records from summary.json
    run["timeseries"]["voltage_V"]             # numpy array per timeseries.csv column
    snap = load_snapshot(run["snapshots"][0])  # state (nz, ny, nx) uint8, h (ny, nx), ...
"""
import json
import tomllib
from pathlib import Path

import numpy as np

__all__ = ["load_run", "load_snapshot", "PHASES", "INT_COLUMNS", "STR_COLUMNS"]

# Site phase codes of snapshot["state"]; mirror kmc/phases.py (checked in tests/test_analysis.py).
PHASES = {"EMPTY": 0, "METAL": 1, "DEAD": 2, "COLLECTOR": 3, "ELECTROLYTE": 4, "SEED": 5,
          "SOFT": 6, "INTERPHASE": 7}

INT_COLUMNS = ("cycle", "events")
STR_COLUMNS = ("half",)


def load_timeseries(path):
    """timeseries.csv as {column: numpy array}.

    Numeric columns are float64 ('inf'/'-inf' in voltage_V, written when no active metal
    (stripping) or no metal/collector (plating) touches the separator, are kept as +-inf:
    use np.isfinite to mask them);
    cycle and events are int64; half is an array of str ('plate'/'strip').
    """
    path = Path(path)
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
        body = fh.read()
    lines = [ln for ln in body.splitlines() if ln.strip()]
    out = {}
    if not lines:
        for name in header:
            dtype = str if name in STR_COLUMNS else (np.int64 if name in INT_COLUMNS else float)
            out[name] = np.array([], dtype=dtype)
        return out
    str_idx = [i for i, name in enumerate(header) if name in STR_COLUMNS]
    num_idx = [i for i, name in enumerate(header) if name not in STR_COLUMNS]
    # float() understands 'inf', '-inf' and 'nan' as written by the runner (repr of a float)
    num = np.loadtxt(lines, delimiter=",", usecols=num_idx, dtype=float, ndmin=2)
    for j, i in enumerate(num_idx):
        col = num[:, j]
        out[header[i]] = col.astype(np.int64) if header[i] in INT_COLUMNS else col
    if str_idx:
        strs = np.loadtxt(lines, delimiter=",", usecols=str_idx, dtype=str, ndmin=2)
        for j, i in enumerate(str_idx):
            out[header[i]] = strs[:, j].astype(str)
    return {name: out[name] for name in header}


def load_snapshot(path):
    """One snapshots/*.npz as a dict.

    state: (nz, ny, nx) uint8 phase codes (see PHASES); h: (ny, nx) separator height (sites
    with z >= h are electrolyte); t_s: simulated time (s); cycle: int; half: 'plate'/'strip';
    voxel_um: voxel edge (um); collector_layers: int. Also path (Path) and name (file stem).
    """
    path = Path(path)
    with np.load(path, allow_pickle=False) as z:
        snap = {k: z[k] for k in z.files}
    for key in ("t_s", "voxel_um"):
        if key in snap:
            snap[key] = float(snap[key])
    for key in ("cycle", "collector_layers"):
        if key in snap:
            snap[key] = int(snap[key])
    if "half" in snap:
        snap["half"] = str(snap["half"])
    snap["path"] = path
    snap["name"] = path.stem
    return snap


def load_run(folder):
    """A run folder as a dict.

    summary: summary.json ({} if not written yet, i.e. before the first full cycle);
    timeseries: load_timeseries(timeseries.csv) ({} if absent); config: config.toml (dict);
    snapshots: sorted list of Paths of snapshots/*.npz (load each with load_snapshot);
    folder: Path.
    """
    folder = Path(folder)
    if not (folder / "config.toml").exists():
        raise FileNotFoundError(f"{folder}: no config.toml, not a kmc run folder")
    with open(folder / "config.toml", "rb") as fh:
        config = tomllib.load(fh)
    summ = folder / "summary.json"
    summary = json.loads(summ.read_text()) if summ.exists() else {}
    ts = folder / "timeseries.csv"
    timeseries = load_timeseries(ts) if ts.exists() else {}
    snapdir = folder / "snapshots"
    snapshots = sorted(snapdir.glob("*.npz")) if snapdir.is_dir() else []
    return {"folder": folder, "summary": summary, "timeseries": timeseries, "config": config,
            "snapshots": snapshots}
