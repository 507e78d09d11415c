#!/usr/bin/env bash
# The README's main job: installs dependencies, builds, and evaluates the
# embedded reference model on the Fashion-MNIST test split on 2 ranks.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/install_deps.sh"
bash "$here/scripts/build.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_mpi_yield_when_idle=1
mpirun -np 2 --oversubscribe "${LRC_BUILD_DIR:-$here/build}/lrcompress" eval \
  "$here/models/fashion_vgg.onnx" --data fashion-mnist:test
