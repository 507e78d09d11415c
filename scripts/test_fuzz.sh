#!/usr/bin/env bash
# The fuzzing step of CI: builds the readers' libFuzzer harnesses with clang
# (ASan, leak checks) into build-fuzz/ (or $LRC_FUZZ_BUILD_DIR) and runs
# each for LRC_FUZZ_SECONDS (default 20) on its seed corpus. A crash, leak
# or timeout fails the step and leaves the input that caused it in the
# build directory (crash-*, leak-*, timeout-*). Assumes the dependencies
# are installed (scripts/install_deps.sh --with-test-tools installs clang).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${LRC_FUZZ_BUILD_DIR:-$here/build-fuzz}
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DLRC_BUILD_TESTS=ON -DLRC_FUZZ=ON \
  -DLRC_FUZZ_SECONDS="${LRC_FUZZ_SECONDS:-20}"
cmake --build "$build" -j "$(nproc)" --target fuzz_onnx fuzz_idx fuzz_config fuzz_imagelist
cd "$build"
ctest --output-on-failure -L fuzz -R 'fuzz_' -j 2
