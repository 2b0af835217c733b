#!/bin/bash
# Run a kmc sweep as a Slurm job array: array task K of M runs its block of the sweep's
# replicas (`kmc ensemble --array-task K --array-count M`). Resumable: submit the same command
# again and every task skips its finished replicas and continues its interrupted ones.
#
#   sbatch --array=0-15 slurm/ensemble_array.sh runs/sweeps/demo.toml results/demo
#   kmc plan runs/sweeps/demo.toml -o results/demo --array-count 16   # which task runs what
#
# After all tasks have ended (aggregation reads only finished replicas, so it can also be run
# on a partial ensemble):
#   sbatch --dependency=afterany:<JOBID> --wrap ".venv/bin/kmc aggregate results/demo --figures"
#
# Submit from the repository root (or set KMC_REPO=/path/to/repo): the job activates
# $KMC_REPO/.venv (build it first with `make build`). SWEEP and OUT are relative to the
# directory sbatch was called from; all tasks must see the same OUT (a shared file system).
#
# Blocks. The split depends only on the sweep and on M (the number of tasks in --array, which
# may start at any index): replicas are dealt longest first to the task with the least work so
# far. Keep the same --array range when resubmitting, or each task takes a different block
# (still correct, since finished replicas are skipped wherever they are, but a task may then
# start a replica that another task is running). A replica's seed comes from its index in the
# sweep, never from the task, so the results do not depend on M.
#
# Time limit: Slurm sends the batch shell SIGTERM 120 s before the limit (--signal=B:TERM@120);
# the trap below forwards it to kmc, which makes the running replica write its checkpoint
# (within one engine chunk, about a second, plus the time to write the lattice), starts no
# new replica and exits with status 130. Resubmit to continue. A node failure loses at most
# the work since a replica's last periodic checkpoint (output.checkpoint_interval_wall_s).
#
# Exit status of a task: 0 its replicas are complete, 1 some failed (their errors are in
# OUT/replicas/<id>/status.json; `--retry-failed` runs them again), 2 bad sweep or OUT,
# 130 checkpointed before the time limit (resubmit).
#
#SBATCH --job-name=kmc-array
#SBATCH --output=slurm-%x-%A_%a.out
#SBATCH --array=0-9
# Resources: one core per task (the engine is serial). With --ntasks=N > 1 per task, the task's
# block is shared by N MPI ranks (mpiexec -n N).
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
# Memory per task: ~15 bytes per lattice site plus ~100 MB for Python (see run_single.sh);
# 2 GB covers lattices up to ~5 x 10^7 sites.
#SBATCH --mem-per-cpu=2G
# Wall time: (replicas per task) x (time per replica). The quickstart cell (2D, 3 cycles)
# takes a few seconds, runs/paper001_cu.toml (3D, 10 cycles) about 10 minutes on one core;
# `kmc plan ... --array-count M` prints the estimated work per task, in seconds once some
# replicas of each point have finished (before that in plated voxels).
#SBATCH --time=04:00:00
#SBATCH --signal=B:TERM@120

set -uo pipefail

usage="usage: sbatch --array=0-<M-1> slurm/ensemble_array.sh SWEEP OUT [kmc ensemble options]"
if [ $# -lt 2 ]; then
    echo "$usage" >&2
    exit 2
fi
SWEEP=$1
OUT=$2
shift 2

REPO=${KMC_REPO:-${SLURM_SUBMIT_DIR:-$(pwd)}}
[ -f "$REPO/slurm/common.sh" ] || { echo "error: $REPO is not the kmc repository; submit"\
    "from its root (or set KMC_REPO)" >&2; exit 2; }
# shellcheck source=common.sh
source "$REPO/slurm/common.sh"
kmc_env

# task K in [0, M) whatever the first index of --array; outside an array: one task
COUNT=${SLURM_ARRAY_TASK_COUNT:-1}
TASK=$(( ${SLURM_ARRAY_TASK_ID:-0} - ${SLURM_ARRAY_TASK_MIN:-0} ))
NTASKS=${SLURM_NTASKS:-1}

cmd=(python -m kmc ensemble "$SWEEP" -o "$OUT" --array-task "$TASK" --array-count "$COUNT"
     --no-progress "$@")
if [ "$NTASKS" -gt 1 ]; then
    cmd=(mpiexec -n "$NTASKS" python -m mpi4py -m kmc ensemble "$SWEEP" -o "$OUT"
         --array-task "$TASK" --array-count "$COUNT" --no-progress "$@")
fi
echo "job ${SLURM_ARRAY_JOB_ID:-local}_${SLURM_ARRAY_TASK_ID:-0} (task $TASK of $COUNT) on" \
     "$(hostname) at $(date -Is): ${cmd[*]}"

run_forwarding_term "${cmd[@]}"

case $rc in
    0) echo "$(date -Is): task $TASK done" ;;
    1) echo "$(date -Is): task $TASK done, some replicas failed (see above)" >&2 ;;
    130) echo "$(date -Is): checkpointed; resubmit the same command to continue" ;;
    *) echo "$(date -Is): kmc exited with status $rc" >&2 ;;
esac
exit "$rc"
