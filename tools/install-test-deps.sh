#!/usr/bin/env bash
# Installs everything the test suite needs: the package with its test extras, the npm
# packages pinned in package.json (onnxruntime-web, playwright-core) and Debian's Chromium
# for the browser runner of allclose_onnxruntime_web.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --upgrade pip
pip install -e ".[test]"
npm ci --no-audit --no-fund
if [ ! -x /usr/bin/chromium ]; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update && $sudo apt-get install -y chromium
fi
