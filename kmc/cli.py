"""The ``kmc`` command line: run, resume, validate, bench, plan, ensemble, aggregate.

Configuration errors (and the runner's ``RunError``) end the command with one line on
stderr and exit status 2; the runner is imported only after the config has validated, so
a bad config writes nothing.
"""
import argparse
import sys
from pathlib import Path

from kmc import __version__
from kmc.config import ConfigError, config_hash, load_config


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="kmc", description="Lattice kinetic Monte Carlo of "
                                 "metal plating/stripping.")
    ap.add_argument("--version", action="version", version=f"kmc {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_set(p):
        p.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE",
                       help="override a config key, e.g. --set protocol.cycles=10 "
                            "(VALUE parsed as TOML; repeatable)")

    p = sub.add_parser("run", help="start a new run from a config file")
    p.add_argument("config", metavar="CONFIG", help="TOML config file")
    p.add_argument("-o", "--outdir", required=True, metavar="OUTDIR", help="output directory")
    p.add_argument("--seed", type=int, default=None, help="override run.seed")
    add_set(p)
    p.add_argument("--force", action="store_true", help="overwrite an existing OUTDIR")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("resume", help="continue a run from its last checkpoint")
    p.add_argument("outdir", metavar="OUTDIR", help="output directory of the run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("validate", help="check a config file and print its hash")
    p.add_argument("config", metavar="CONFIG", help="TOML config file")
    add_set(p)

    p = sub.add_parser("bench", help="engine throughput benchmark")
    p.add_argument("--json", default=None, metavar="FILE", help="also write results as JSON")
    p.add_argument("--quick", action="store_true", help="short benchmark")
    p.add_argument("--papers", nargs="*", default=None, metavar="CONFIG",
                   help="instead: run these configs (default: every runs/paper*.toml) end "
                        "to end, one after another (wall time of each)")

    p = sub.add_parser("plan", help="list the replicas of a sweep (nothing is run)")
    p.add_argument("sweep", metavar="SWEEP", help="TOML sweep file")
    p.add_argument("-o", "--outdir", required=True, metavar="OUT",
                   help="ensemble folder (shows each replica's state there; writes plan.json)")
    p.add_argument("--array-count", type=int, default=None, metavar="M",
                   help="also show which of M array tasks takes each replica")

    p = sub.add_parser("ensemble", help="run (or resume) the replicas of a sweep; "
                       "under mpiexec the ranks share them")
    p.add_argument("sweep", metavar="SWEEP", help="TOML sweep file")
    p.add_argument("-o", "--outdir", required=True, metavar="OUT", help="ensemble folder")
    p.add_argument("--array-task", type=int, default=None, metavar="K",
                   help="run only the block of array task K (0 <= K < M)")
    p.add_argument("--array-count", type=int, default=None, metavar="M",
                   help="number of array tasks the replicas are split into")
    p.add_argument("--retry-failed", action="store_true",
                   help="run failed replicas again (by default they are skipped)")
    p.add_argument("--force", action="store_true",
                   help="discard the results in OUT and start over")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("aggregate", help="collect an ensemble into aggregate.csv and "
                       "summary.csv (mean, std, 95%% bootstrap CI)")
    p.add_argument("outdir", metavar="OUT", help="ensemble folder")
    p.add_argument("--figures", action="store_true",
                   help="also draw the figures (analysis/figures.py) into OUT/figures")
    p.add_argument("--bootstrap", type=int, default=10000, metavar="N",
                   help="bootstrap resamples for the confidence intervals (default 10000)")
    return ap


def _analysis():
    """Make the repository's analysis/ package importable (it is not installed)."""
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)


def _dispatch(args) -> int:
    if args.command == "run":
        overrides = list(args.overrides)
        if args.seed is not None:
            overrides.append(f"run.seed={args.seed}")
        cfg = load_config(args.config, overrides)
        from kmc.runner import run_new
        return run_new(cfg, Path(args.outdir), force=args.force,
                       progress=not args.no_progress)
    if args.command == "resume":
        from kmc.runner import resume
        return resume(Path(args.outdir), progress=not args.no_progress)
    if args.command == "validate":
        cfg = load_config(args.config, args.overrides)
        print(f"ok: {args.config} (hash {config_hash(cfg)[:12]})")
        return 0
    if args.command == "bench":
        from kmc.bench import main as bench_main, papers_main
        if args.papers is not None:
            return papers_main(json_path=args.json, paths=args.papers or None)
        return bench_main(json_path=args.json, quick=args.quick)
    if args.command == "plan":
        from kmc.ensemble import plan_command
        return plan_command(args.sweep, Path(args.outdir), array_count=args.array_count)
    if args.command == "ensemble":
        from kmc.ensemble import run_ensemble
        return run_ensemble(args.sweep, Path(args.outdir), array_task=args.array_task,
                            array_count=args.array_count, progress=not args.no_progress,
                            retry_failed=args.retry_failed, force=args.force)
    if args.command == "aggregate":
        _analysis()
        from analysis.aggregate import main as aggregate_main
        return aggregate_main(Path(args.outdir), figures=args.figures,
                              n_boot=args.bootstrap)
    raise AssertionError(args.command)  # pragma: no cover


def main(argv=None) -> int:
    """Entry point of ``kmc`` / ``python -m kmc``; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        rc = _dispatch(args)
    except ConfigError as err:
        print(str(err), file=sys.stderr)
        return 2
    except Exception as err:
        if any(c.__name__ in ("RunError", "EnsembleError", "AggregateError")
               for c in type(err).__mro__):
            print(f"error: {err}", file=sys.stderr)
            return 2
        raise
    return 0 if rc is None else int(rc)


if __name__ == "__main__":
    sys.exit(main())
