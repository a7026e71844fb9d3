#!/usr/bin/env bash
# The Python venv with pyshacl (PyPI) that integration-tests/tests/catalog.rs uses to check
# a live node's DCAT-AP output against the vendored DCAT-AP 3.0.1 shapes
# (integration-tests/shacl/). Made under $CARGO_TARGET_DIR/shacl-venv (default target/);
# .ci/run calls this before the tests. Runs alone too: bash .ci/shacl-venv.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYSHACL_VERSION=0.40.1
TARGET=$(realpath "${CARGO_TARGET_DIR:-target}")
VENV="$TARGET/shacl-venv"
if ! "$VENV/bin/pyshacl" --version 2>/dev/null | grep -q "$PYSHACL_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "pyshacl==$PYSHACL_VERSION"
fi
"$VENV/bin/pyshacl" --version
