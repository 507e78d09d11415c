#!/usr/bin/env bash
# The README's test command: installs dependencies, builds (with the optional
# oneDNN backend, so that its tests run), runs the whole test suite with
# CTest.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/install_deps.sh" --with-test-tools
bash "$here/scripts/build.sh" -DLRC_BUILD_TESTS=ON -DLRC_WARNINGS_AS_ERRORS=ON \
  -DLRC_WITH_DNNL=ON
cd "${LRC_BUILD_DIR:-$here/build}"
ctest --output-on-failure -j 2 --timeout 900
