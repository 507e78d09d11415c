#!/bin/bash
# Compares the methods at one speedup on the reference model
# (jobs/method-comparison/config.yaml, docs/JOBS.md), then tabulates them
# with slurm/gather.py into out/jobs/method-comparison/summary.{md,csv}.
#
#   jobs/method-comparison/run.sh [options] [lrcompress run options ...]
#       runs here, one method after another, with mpirun -np N
#   jobs/method-comparison/run.sh --slurm [options] [lrcompress run options ...]
#       submits slurm/sweep.sbatch as an array (one task per method, N
#       tasks each) and slurm/gather.py after it (--dependency=afterany)
# Options:
#   --methods "M ..."  default "svd linear linear-asym nonlinear-asym 3d"
#   --speedup S        default 4
#   --np N             MPI ranks per run (default 2)
#   --out DIR          default out/jobs/method-comparison
# Each method writes DIR/<method>_<S>x/; a run that stopped resumes from
# its checkpoint when run again.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
cd "$LRC_REPO"
config=jobs/method-comparison/config.yaml

slurm=0
np=2
speedup=4
methods="svd linear linear-asym nonlinear-asym 3d"
out=out/jobs/method-comparison
while [[ $# -gt 0 ]]; do
  case $1 in
    --slurm) slurm=1; shift ;;
    --np | --speedup | --methods | --out)
      [[ $# -ge 2 ]] || lrc_die 2 "$1 wants a value"
      case $1 in
        --np) np=$(lrc_count --np "$2") ;;
        --speedup) speedup=$2 ;;
        --methods) methods=$2 ;;
        --out) out=$2 ;;
      esac
      shift 2
      ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
read -r -a list <<<"$methods"
[[ ${#list[@]} -gt 0 ]] || lrc_die 2 "--methods is empty"

if [[ $slurm == 1 ]]; then
  lrc_require_sbatch
  arr=$(SWEEP_METHODS="$methods" SWEEP_SPEEDUPS="$speedup" SWEEP_OUT="$out" \
        sbatch --parsable --array="0-$((${#list[@]} - 1))" --ntasks="$np" \
        slurm/sweep.sbatch "$config" "$@")
  gid=$(lrc_submit_gather "$arr" "$out")
  lrc_say "submitted array $arr (${#list[@]} tasks: $methods at ${speedup}x; logs lrc-sweep-${arr}_<task>.out)"
  lrc_say "and gather job $gid after it: the table goes to $out/summary.md and lrc-gather-$gid.out"
  exit 0
fi

lrc_local_env
binary=$(lrc_binary)
failed=()
for m in "${list[@]}"; do
  dir=$out/${m}_${speedup}x
  lrc_say "$m at ${speedup}x -> $dir"
  t0=$SECONDS
  if mpirun -np "$np" --oversubscribe "$binary" run "$config" --set "method=$m" \
       --set "speedup=$speedup" --set "output=$dir" "$@"; then
    lrc_say "$m done in $((SECONDS - t0)) s"
  else
    lrc_say "$m FAILED (exit $?) after $((SECONDS - t0)) s; going on with the others"
    failed+=("$m")
  fi
done
/usr/bin/python3 slurm/gather.py "$out" || true
if [[ ${#failed[@]} -gt 0 ]]; then
  lrc_die 1 "failed: ${failed[*]} (their messages are above; run again to resume)"
fi
