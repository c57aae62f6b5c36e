#!/usr/bin/env bash
# Browser tests: Playwright (PyPI) drives headless Chromium (Debian's
# package: browser downloads are not available) through the web client, in
# both deployment modes, and saves the README's screenshots to
# docs/screenshots/. Runs on the embedded host, and again under real Spin
# when there is one ($SPIN, or ../shared/tools/spin). Installs what it
# lacks (apt chromium, a venv under target/) so a fresh machine can run it.
#
#   tests/browser/run.sh                 # what .ci/run runs
#   SPIN=/path/to/spin tests/browser/run.sh -k validation   # one runtime, some tests
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PLAYWRIGHT=1.65.2
PYTEST=9.2.0

# Chromium from Debian, and the fonts it draws text with.
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi

# Playwright's Python package and pytest, in their own virtual environment.
# Its bundled driver is all it needs; it never downloads a browser here.
VENV=${BROWSER_VENV:-$ROOT/target/browser-venv}
if ! "$VENV/bin/python" -c "import playwright, pytest" 2>/dev/null; then
  python3 -m venv "$VENV" 2>/dev/null || {
    apt-get install -y -q python3-venv >/dev/null && python3 -m venv "$VENV"
  }
  "$VENV/bin/pip" install -q "playwright==$PLAYWRIGHT" "pytest==$PYTEST"
fi

# The components (tests/wasm-build builds them for wasm32-wasip2).
cargo build -q -p wasm-build

# The runtimes: the one $SPIN names, else the embedded host and, when it is
# there, real Spin.
if [ -n "${SPIN:-}" ]; then
  RUNTIMES=("$SPIN")
else
  cargo build -q -p host
  RUNTIMES=("$ROOT/target/debug/host")
  if [ -e ../shared/tools/spin ]; then RUNTIMES+=("$(realpath ../shared/tools/spin)"); fi
fi

for runtime in "${RUNTIMES[@]}"; do
  echo "== browser tests against $runtime (Chromium $("$CHROMIUM" --version 2>/dev/null | awk '{print $2}'), Playwright $PLAYWRIGHT)"
  SPIN=$runtime CHROMIUM=$CHROMIUM PYTHONDONTWRITEBYTECODE=1 \
    "$VENV/bin/python" -m pytest "$ROOT/tests/browser" -p no:cacheprovider -q "$@"
done
