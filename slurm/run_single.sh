#!/bin/bash
# Run one kmc configuration as a Slurm batch job, resuming if the output folder already
# holds a (checkpointed or finished) run.
#
#   sbatch slurm/run_single.sh runs/paper001_cu.toml results/paper001_cu
#   sbatch --time=24:00:00 --mem=8G slurm/run_single.sh CONFIG OUTDIR    # override resources
#
# Submit from the repository root (or set KMC_REPO=/path/to/repo): the job activates
# $KMC_REPO/.venv (build it first with `make build`). Relative CONFIG/OUTDIR are relative to
# the directory sbatch was called from.
#
# Time limit: the kmc runner checkpoints on SIGTERM and exits with status 130. Slurm sends
# the batch shell SIGTERM 120 s before the limit (--signal=B:TERM@120); the trap below
# forwards it to python, which writes OUTDIR/checkpoint.npz within about one engine chunk
# (200k events, about a second). To continue, submit the same command again:
# OUTDIR then holds checkpoint.npz/config.toml, and this script runs `kmc resume OUTDIR`.
# A finished run is reported as complete and left alone.
#
#SBATCH --job-name=kmc
#SBATCH --output=slurm-%x-%j.out
# Resources: the engine is serial, one core is all it uses.
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
# Memory: the engine needs about 15 bytes per lattice site (`kmc bench` reports B/site) on top
# of ~70 MB for Python and numpy; runs/paper001_cu.toml (64 x 64 x 142 = 0.6 M sites) peaks at
# ~85 MB resident. Observables and checkpoints add temporary copies (a few bytes per site),
# so 2 GB covers lattices up to ~5 x 10^7 sites; raise --mem beyond that.
#SBATCH --mem=2G
# Wall time: runs/paper001_cu.toml (3D, 64 x 64 x 142 sites, 10 cycles) takes about
# 8-9 minutes on one core; cost grows with lateral area x plated capacity x cycles. Runs that
# exceed the limit checkpoint and are resumed by resubmitting.
#SBATCH --time=04:00:00
#SBATCH --signal=B:TERM@120

set -uo pipefail

usage="usage: sbatch slurm/run_single.sh CONFIG OUTDIR"
if [ $# -ne 2 ]; then
    echo "$usage" >&2
    exit 2
fi
CONFIG=$1
OUTDIR=$2

REPO=${KMC_REPO:-${SLURM_SUBMIT_DIR:-$(pwd)}}
[ -f "$REPO/slurm/common.sh" ] || { echo "error: $REPO is not the kmc repository; submit"\
    "from its root (or set KMC_REPO)" >&2; exit 2; }
# shellcheck source=common.sh
source "$REPO/slurm/common.sh"
kmc_env

if [ -f "$OUTDIR/checkpoint.npz" ] || [ -f "$OUTDIR/config.toml" ]; then
    # resume uses the config stored in OUTDIR; CONFIG is not read again
    echo "$OUTDIR holds a run: resuming it with its own config.toml"
    cmd=(python -m kmc resume "$OUTDIR" --no-progress)
else
    if [ ! -f "$CONFIG" ]; then
        echo "error: config $CONFIG not found" >&2
        exit 2
    fi
    cmd=(python -m kmc run "$CONFIG" -o "$OUTDIR" --no-progress)
fi

echo "job ${SLURM_JOB_ID:-local} on $(hostname) at $(date -Is): ${cmd[*]}"

run_forwarding_term "${cmd[@]}"

case $rc in
    0) echo "$(date -Is): done: $OUTDIR" ;;
    130) echo "$(date -Is): checkpointed; resubmit to continue:" \
              "sbatch slurm/run_single.sh $CONFIG $OUTDIR" ;;
    *) echo "$(date -Is): kmc exited with status $rc" >&2 ;;
esac
exit "$rc"
