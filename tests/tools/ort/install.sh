#!/bin/sh
# Installs onnxruntime-node (the independent reference runtime of the
# end-to-end tests) into tests/tools/ort/node_modules. Safe to run again: it
# does nothing when the package already loads.
#
# ONNXRUNTIME_NODE_INSTALL=skip stops the package's install script from
# fetching CUDA libraries, which fails offline; the CPU library ships inside
# the npm package itself.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

if node -e "require('onnxruntime-node')" >/dev/null 2>&1; then
  echo "onnxruntime-node already installed in $here/node_modules"
  exit 0
fi

if [ -f package-lock.json ]; then
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
else
  ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund
fi

node -e "const ort = require('onnxruntime-node'); console.log('onnxruntime-node loads: ' + Object.keys(ort).length + ' exports')"
