#!/bin/bash
# The embedded default job (jobs/default/config.yaml, docs/JOBS.md).
#
#   jobs/default/run.sh [--np N] [lrcompress run options ...]
#       runs here: mpirun -np N (default 2) lrcompress run config.yaml
#   jobs/default/run.sh --slurm [--np N] [lrcompress run options ...]
#       submits slurm/lrcompress.sbatch with N tasks (default: the
#       script's 2); other sbatch options through SBATCH_* variables
#       (SBATCH_PARTITION, SBATCH_ACCOUNT, SBATCH_TIMELIMIT, ...)
#
# lrcompress options go through: --set key=value, --quiet, --verbose.
# Outputs: out/jobs/default/{compressed.onnx,results.h5,stats.h5}; a run
# that stopped resumes from out/jobs/default/checkpoint.h5 when run again.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
cd "$LRC_REPO"
config=jobs/default/config.yaml

slurm=0
np=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --slurm) slurm=1; shift ;;
    --np) [[ $# -ge 2 ]] || lrc_die 2 "--np wants a value"; np=$(lrc_count --np "$2"); shift 2 ;;
    --np=*) np=$(lrc_count --np "${1#--np=}"); shift ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) break ;;
  esac
done

if [[ $slurm == 1 ]]; then
  lrc_require_sbatch
  jid=$(sbatch --parsable ${np:+--ntasks="$np"} slurm/lrcompress.sbatch "$config" "$@")
  lrc_say "submitted job $jid: log $LRC_REPO/lrcompress-$jid.out, outputs out/jobs/default/"
else
  lrc_local_env
  binary=$(lrc_binary)
  lrc_say "mpirun -np ${np:-2} $binary run $config $*"
  mpirun -np "${np:-2}" --oversubscribe "$binary" run "$config" "$@"
fi
