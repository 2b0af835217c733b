# Shared by the Slurm scripts in this folder (sourced, not run): environment set-up and
# running kmc so that the TERM Slurm sends before the time limit reaches it.

# Activate $REPO/.venv and put the repository on PYTHONPATH; exit 2 if it is not built.
kmc_env() {
    if [ ! -f "$REPO/.venv/bin/activate" ]; then
        echo "error: $REPO/.venv not found; submit from the repository root after 'make build'" \
             "(or set KMC_REPO)" >&2
        exit 2
    fi
    # shellcheck disable=SC1091
    source "$REPO/.venv/bin/activate"
    export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
    # one core per process: keep numpy/BLAS from starting thread pools
    export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
}

# Run "$@" in the background and wait for it, forwarding TERM/INT to it (bash runs traps only
# between commands or while in `wait`, and `wait` returns early when a trapped signal
# arrives: wait again until the command has exited). Sets rc to its exit status.
run_forwarding_term() {
    pid=""
    nsig=0
    forward() {
        nsig=$((nsig + 1))
        echo "$(date -Is): signal received, asking kmc (pid $pid) to checkpoint"
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    }
    trap forward TERM INT
    "$@" &
    pid=$!
    while :; do
        seen=$nsig
        wait "$pid"
        rc=$?
        [ "$nsig" -eq "$seen" ] && break
    done
}
