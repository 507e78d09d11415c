# Helpers sourced by the job scripts in jobs/*/ (not run by itself).
# Every job runs from the repository root, which the configs' relative
# paths (models/..., out/...) start from.
# shellcheck shell=bash

LRC_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LRC_REPO

lrc_die() {
  local code=$1
  shift
  printf '%s: error: %s\n' "${0##*/}" "$*" >&2
  exit "$code"
}

lrc_say() { printf '%s: %s\n' "${0##*/}" "$*"; }

# The lrcompress binary: LRCOMPRESS, else lrcompress on PATH, else the
# repository's build/lrcompress.
lrc_binary() {
  if [[ -n ${LRCOMPRESS:-} ]]; then
    [[ -x $LRCOMPRESS ]] || lrc_die 1 "LRCOMPRESS=$LRCOMPRESS is not an executable file"
    printf '%s\n' "$LRCOMPRESS"
  elif command -v lrcompress >/dev/null; then
    command -v lrcompress
  elif [[ -x $LRC_REPO/build/lrcompress ]]; then
    printf '%s\n' "$LRC_REPO/build/lrcompress"
  else
    lrc_die 1 "no lrcompress binary: build it (bash scripts/build.sh), put it on PATH, or set LRCOMPRESS"
  fi
}

# The Open MPI settings a local run needs: running as root, and more ranks
# than cores without busy-waiting. One BLAS thread per rank.
lrc_local_env() {
  if [[ $(id -u) == 0 ]]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
  export OMPI_MCA_mpi_yield_when_idle=1
  export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
  command -v mpirun >/dev/null ||
    lrc_die 1 "mpirun not found (apt-get install openmpi-bin, or bash scripts/install_deps.sh)"
}

lrc_require_sbatch() {
  command -v sbatch >/dev/null ||
    lrc_die 1 "sbatch not found: submit from a Slurm login node, or leave out --slurm to run here"
}

# A positive integer option value, or die naming the option.
lrc_count() {
  [[ $2 =~ ^[1-9][0-9]*$ ]] || lrc_die 2 "$1 wants a positive integer, got '$2'"
  printf '%s\n' "$2"
}

# Submits the gather step after a job array (whatever its tasks' fate:
# afterany), so that the table shows what finished; prints its job id.
lrc_submit_gather() {
  local array_id=$1 out=$2
  sbatch --parsable --dependency="afterany:$array_id" --job-name=lrc-gather \
    --ntasks=1 --mem=1G --time=00:10:00 --output="lrc-gather-%j.out" \
    --wrap "/usr/bin/python3 $(printf '%q' "$LRC_REPO/slurm/gather.py") $(printf '%q' "$out")"
}
