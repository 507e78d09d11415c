#!/usr/bin/env bash
# Installs every dependency of lrcompress from Debian's packages (and the
# independent ONNX runtime used by the tests from npm). Idempotent; run as
# root on Debian 12.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
pkgs=(
  build-essential cmake pkg-config git
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev hdf5-tools
  libopenblas-dev liblapacke-dev libscalapack-openmpi-dev
  libdnnl-dev
  libprotobuf-c-dev protobuf-c-compiler zlib1g-dev
  libcmocka-dev libcyaml-dev libturbojpeg0-dev libpng-dev
  python3-onnx python3-numpy python3-h5py python3-pil darknet
  python3-matplotlib jupyter-nbconvert python3-nbformat python3-ipykernel
  slurmctld slurmd slurm-client munge
  clang libclang-rt-14-dev
  dataset-fashion-mnist
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install_deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ "${1:-}" = "--with-test-tools" ]; then
  if ! command -v node >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
  fi
  bash "$here/tests/tools/ort/install.sh"
fi
