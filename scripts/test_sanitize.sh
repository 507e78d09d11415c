#!/usr/bin/env bash
# The sanitizer step of CI: builds lrcompress and its tests with
# AddressSanitizer (leak checks on) and UndefinedBehaviorSanitizer into
# build-sanitize/ (or $LRC_SANITIZE_BUILD_DIR) and runs the unit and MPI
# tests (every test but the end-to-end ones, label e2e). Leaks of the MPI
# library itself are suppressed by tests/lsan_openmpi.supp, never ours.
# Built with the oneDNN backend, as scripts/test.sh builds it, so that
# src/forward/dnnl.c runs under the sanitizers too (test_forward_backend).
# Assumes scripts/install_deps.sh has run (scripts/test.sh runs it).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${LRC_SANITIZE_BUILD_DIR:-$here/build-sanitize}
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLRC_BUILD_TESTS=ON -DLRC_WARNINGS_AS_ERRORS=ON \
  -DLRC_SANITIZE_ADDRESS=ON -DLRC_SANITIZE_UNDEFINED=ON -DLRC_WITH_DNNL=ON
cmake --build "$build" -j "$(nproc)"
cd "$build"
ctest --output-on-failure -j 2 --timeout 900 -LE e2e
