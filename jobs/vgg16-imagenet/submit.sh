#!/bin/bash
# VGG-16 on ImageNet at 2x, 3x, 4x and 5x as a Slurm job array
# (slurm/sweep.sbatch, one task per speedup), then slurm/gather.py after it
# (--dependency=afterany): the table goes to OUT/summary.md and .csv.
# See docs/JOBS.md ("vgg16-imagenet") for the inputs and the resources.
#
#   jobs/vgg16-imagenet/submit.sh [options] [lrcompress run options ...]
# Options:
#   --h5              use config-h5.yaml (h5: data) instead of config.yaml
#                     (imagelist: data)
#   --config FILE     another config
#   --speedups "S .." default "2 3 4 5"
#   --out DIR         default out/vgg16-imagenet (task directories
#                     DIR/nonlinear-asym_<S>x, logs in DIR/logs)
#   --no-inspect      skip loading the model with `lrcompress inspect` here
#   --dry-run         check the inputs and print the sbatch commands only
# Resources per task (environment): VGG_NODES (2), VGG_TASKS_PER_NODE (16),
# VGG_MEM_PER_CPU (4G), VGG_TIME (04:00:00); partition, account and the
# like through SBATCH_PARTITION, SBATCH_ACCOUNT, ...
# Each task resumes from its checkpoint when requeued or resubmitted.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
cd "$LRC_REPO"

config=jobs/vgg16-imagenet/config.yaml
speedups="2 3 4 5"
out=out/vgg16-imagenet
inspect=1
dry=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --h5) config=jobs/vgg16-imagenet/config-h5.yaml; shift ;;
    --no-inspect) inspect=0; shift ;;
    --dry-run) dry=1; shift ;;
    --config | --speedups | --out)
      [[ $# -ge 2 ]] || lrc_die 2 "$1 wants a value"
      case $1 in
        --config) config=$2 ;;
        --speedups) speedups=$2 ;;
        --out) out=$2 ;;
      esac
      shift 2
      ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
[[ -f $config ]] || lrc_die 2 "config $config not found (paths start at $LRC_REPO)"

# A key's value: the last --set KEY=... among the arguments, else the
# config's top-level line.
value() {
  local key=$1 v="" prev="" a
  for a in ${extra[@]+"${extra[@]}"}; do
    [[ $prev == --set && $a == "$key="* ]] && v=${a#"$key="}
    prev=$a
  done
  if [[ -z $v ]]; then
    v=$(sed -n "/^$key:/{s/^$key:[[:space:]]*//p;q;}" "$config" |
        sed -e 's/[[:space:]]#.*$//' -e 's/[[:space:]]*$//' -e "s/^[\"']//" -e "s/[\"']\$//")
  fi
  printf '%s\n' "$v"
}
extra=("$@")

# --- check the inputs here, before an allocation is spent -------------------
binary=$(lrc_binary)
problems=()
model=$(value model)
if [[ -z $model || $model == /path/to/* ]]; then
  problems+=("model: fill in the path of the VGG-16 ONNX file in $config")
elif [[ ! -f $model ]]; then
  problems+=("model: $model does not exist")
fi
check_spec() {
  local key=$1 spec usage
  spec=$(value "$key")
  case $spec in
    "" ) problems+=("$key: missing in $config") ;;
    */path/to/*) problems+=("$key: fill in the paths of '$spec' in $config") ;;
    imagelist:*)
      local rest=${spec#imagelist:} list root
      list=${rest%%:*}
      rest=${rest#*:}
      root=${rest%%:*}
      [[ -f $list ]] || problems+=("$key: the image list $list does not exist")
      [[ -d $root ]] || problems+=("$key: the image root $root is not a directory")
      usage=$("$binary" 2>&1 || true)
      if [[ $usage != *imagelist:* ]]; then
        problems+=("$key: $binary cannot read imagelist: specs (an older build): use --h5 with h5: files (docs/JOBS.md)")
      fi
      ;;
    h5:*) [[ -f ${spec#h5:} ]] || problems+=("$key: ${spec#h5:} does not exist") ;;
    *) ;;
  esac
}
check_spec calibration
check_spec evaluation
if [[ ${#problems[@]} -gt 0 ]]; then
  for p in "${problems[@]}"; do
    printf '%s: error: %s\n' "${0##*/}" "$p" >&2
  done
  exit 2
fi
if [[ $inspect == 1 ]]; then
  lrc_say "checking the model: $binary inspect $model"
  if ! "$binary" inspect "$model" >/dev/null; then
    lrc_die 2 "$model cannot be compressed as it is (the message above says why)"
  fi
fi

read -r -a list <<<"$speedups"
[[ ${#list[@]} -gt 0 ]] || lrc_die 2 "--speedups is empty"
nodes=${VGG_NODES:-2}
tpn=${VGG_TASKS_PER_NODE:-16}
method=$(value method)
array=(sbatch --parsable --array="0-$((${#list[@]} - 1))" --job-name=lrc-vgg16
       --nodes="$nodes" --ntasks-per-node="$tpn" --ntasks="$((nodes * tpn))"
       --cpus-per-task=1 --mem-per-cpu="${VGG_MEM_PER_CPU:-4G}"
       --time="${VGG_TIME:-04:00:00}" --output="$out/logs/%x-%A_%a.out"
       slurm/sweep.sbatch "$config" "$@")
lrc_say "${#list[@]} tasks (${method:-nonlinear-asym} at ${list[*]}x), each on $nodes node(s) x $tpn ranks, into $out/"
if [[ $dry == 1 ]]; then
  printf 'SWEEP_SPEEDUPS=%q SWEEP_OUT=%q' "$speedups" "$out"
  printf ' %q' "${array[@]}"
  printf '\nsbatch --dependency=afterany:<array id> ... --wrap %q\n' \
    "/usr/bin/python3 $LRC_REPO/slurm/gather.py $out"
  exit 0
fi
lrc_require_sbatch
mkdir -p "$out/logs"
arr=$(SWEEP_SPEEDUPS="$speedups" SWEEP_OUT="$out" "${array[@]}")
gid=$(lrc_submit_gather "$arr" "$out")
lrc_say "submitted array $arr (logs $out/logs/lrc-vgg16-${arr}_<task>.out) and gather job $gid (table: $out/summary.md)"
