#!/bin/bash
# Run a whole kmc sweep in one Slurm allocation: N MPI ranks take the replicas one at a time
# from a shared counter, longest first (`mpiexec -n N python -m mpi4py -m kmc ensemble`).
# Every rank computes, rank 0 included. Resumable: submit the same command again and the
# finished replicas are skipped, the interrupted ones continue from their checkpoints.
#
#   sbatch --ntasks=64 slurm/ensemble_mpi.sh runs/sweeps/demo.toml results/demo
#   sbatch --ntasks=64 slurm/ensemble_mpi.sh SWEEP OUT --aggregate   # also aggregate + figures
#
# Submit from the repository root (or set KMC_REPO=/path/to/repo): the job activates
# $KMC_REPO/.venv (build it first with `make build`). SWEEP and OUT are relative to the
# directory sbatch was called from.
#
# Launcher: by default the mpiexec of the venv (MPICH's hydra from the `mpich` wheel that
# mpi4py was installed against); inside an allocation it starts its proxies on the nodes
# with srun. With a site MPI (mpi4py built against it), set KMC_LAUNCHER="srun --mpi=pmi2"
# (or pmix, as the site documents) and load the site's modules before submitting.
#
# Time limit: Slurm sends the batch shell SIGTERM 120 s before the limit (--signal=B:TERM@120);
# the trap forwards it to the launcher, which passes it to every rank: each rank's running
# replica writes its checkpoint (within one engine chunk, about a second, plus the time to
# write the lattice), no new replica is started, and the job exits with status 130. Resubmit
# to continue. If the whole allocation dies (node failure), resubmitting also resumes: at most
# the work since each replica's last periodic checkpoint (output.checkpoint_interval_wall_s)
# is redone.
#
# Exit status: 0 all replicas complete, 1 some failed (errors in
# OUT/replicas/<id>/status.json; add --retry-failed to run them again), 2 bad sweep or OUT,
# 130 checkpointed before the time limit (resubmit).
#
#SBATCH --job-name=kmc-ens
#SBATCH --output=slurm-%x-%j.out
# Resources: one rank per core; the engine is serial, so one core per rank. Ranks beyond the
# number of replicas have nothing to do; with many more replicas than ranks the longest-first
# order keeps the tail short.
#SBATCH --ntasks=16
#SBATCH --cpus-per-task=1
# Memory per rank: ~15 bytes per lattice site plus ~100 MB for Python and MPI.
#SBATCH --mem-per-cpu=2G
# Wall time: about (total replica time) / ntasks + the longest replica. `kmc plan SWEEP -o OUT`
# prints each replica's estimated cost (measured seconds once some replicas of a point have
# finished). A job that hits the limit checkpoints and continues when resubmitted.
#SBATCH --time=12:00:00
#SBATCH --signal=B:TERM@120

set -uo pipefail

usage="usage: sbatch --ntasks=N slurm/ensemble_mpi.sh SWEEP OUT [--aggregate] [kmc ensemble options]"
if [ $# -lt 2 ]; then
    echo "$usage" >&2
    exit 2
fi
SWEEP=$1
OUT=$2
shift 2
AGGREGATE=0
args=()
for a in "$@"; do
    if [ "$a" = "--aggregate" ]; then AGGREGATE=1; else args+=("$a"); fi
done

REPO=${KMC_REPO:-${SLURM_SUBMIT_DIR:-$(pwd)}}
[ -f "$REPO/slurm/common.sh" ] || { echo "error: $REPO is not the kmc repository; submit"\
    "from its root (or set KMC_REPO)" >&2; exit 2; }
# shellcheck source=common.sh
source "$REPO/slurm/common.sh"
kmc_env

NTASKS=${SLURM_NTASKS:-1}
read -r -a launcher <<< "${KMC_LAUNCHER:-mpiexec -n $NTASKS}"
cmd=("${launcher[@]}" python -m mpi4py -m kmc ensemble "$SWEEP" -o "$OUT" --no-progress
     ${args[@]+"${args[@]}"})
echo "job ${SLURM_JOB_ID:-local} ($NTASKS ranks) on $(hostname) at $(date -Is): ${cmd[*]}"

run_forwarding_term "${cmd[@]}"

case $rc in
    0|1)
        [ "$rc" -eq 1 ] && echo "$(date -Is): some replicas failed (see above)" >&2
        if [ "$AGGREGATE" -eq 1 ]; then
            python -m kmc aggregate "$OUT" --figures || rc=$?
        fi
        echo "$(date -Is): done: $OUT" ;;
    130) echo "$(date -Is): checkpointed; resubmit the same command to continue" ;;
    *) echo "$(date -Is): kmc exited with status $rc" >&2 ;;
esac
exit "$rc"
