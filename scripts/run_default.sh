#!/usr/bin/env bash
# The README's main job: installs dependencies, builds, and compresses the
# embedded reference model (models/fashion_vgg.onnx) for a 4x whole-model
# conv speedup with the papers' nonlinear asymmetric method on 2 MPI ranks,
# 3,000 calibration images of the Fashion-MNIST train split, then evaluates
# the original and the compressed model on the 10,000 test images.
# The job is configs/default.yaml; outputs go to out/default (or
# $LRC_OUT/default).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${LRC_OUT:-$here/out}
bash "$here/scripts/install_deps.sh"
bash "$here/scripts/build.sh"
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_mpi_yield_when_idle=1
mpirun -np 2 --oversubscribe "${LRC_BUILD_DIR:-$here/build}/lrcompress" run \
  "$here/configs/default.yaml" --set "model=$here/models/fashion_vgg.onnx" \
  --set "output=$out/default"
