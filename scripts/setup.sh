#!/usr/bin/env bash
# One-time, idempotent set-up that `npm start` and `npm test` run first. It installs what a fresh
# machine lacks and says what it did; on a machine that is ready it prints one line.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  say "convkit needs Node.js 20 or newer; this is $(node --version). Install a newer Node and run again."
  exit 1
fi

# npm packages: install when node_modules is missing or older than the lock file.
stamp=node_modules/.package-lock.json
if [ ! -d node_modules ] || [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  say "installing npm packages from package-lock.json (npm ci)..."
  # onnxruntime-node (a bench peer) ships its CPU binaries; its install script would try to
  # download GPU ones, which fails offline.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
  say "npm packages installed."
else
  say "npm packages are up to date."
fi

# Native backend (optional): oneDNN from apt, then the N-API addon. Nothing here stops set-up:
# when it cannot be done, one line says why and the reference backend keeps working. Unless
# CONVKIT_REQUIRE_NATIVE=1 (CI sets it where oneDNN can be had, see .ci/run): then a native
# backend that cannot be set up stops set-up, and with it `npm test`.
native_addon=native/build/Release/convkit_native.node
native_log=native/build-native.log

# native_missing WHY: the native backend cannot be set up; stops set-up when it is required.
native_missing() {
  case "${CONVKIT_REQUIRE_NATIVE:-}" in
  1 | true | yes | TRUE | YES | True | Yes)
    say "native backend: required (CONVKIT_REQUIRE_NATIVE=$CONVKIT_REQUIRE_NATIVE) but $1; stopping."
    [ -f "$native_log" ] && tail -n 20 "$native_log" | sed 's/^/[setup]   /'
    exit 1
    ;;
  esac
  return 0
}

# apt_install WHAT PACKAGE...: installs Debian packages when root or with passwordless sudo.
# Returns 1, after one line saying why, when it cannot.
apt_install() {
  local what=$1
  shift
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo="sudo -n"
    else
      say "$what: $* is not installed and this user cannot install it; run 'sudo apt-get install $*'."
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    say "$what: $* is not installed and there is no apt-get here; install it by hand."
    return 1
  fi
  say "$what: installing $* (apt-get update; apt-get install)..."
  if { [ -n "${apt_updated:-}" ] || $sudo apt-get update -qq >/dev/null 2>&1; } &&
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1; then
    apt_updated=1
    say "$what: $* installed."
  else
    say "$what: installing $* failed (offline?)."
    return 1
  fi
}

setup_native() {
  if [ ! -f /usr/include/oneapi/dnnl/dnnl.hpp ]; then
    apt_install "native backend (oneDNN 2.6)" libdnnl-dev || {
      native_missing "oneDNN (libdnnl-dev) could not be installed"
      say "native backend: without oneDNN the reference backend works; after installing it run 'npm run build:native'."
      return 0
    }
  fi
  # Build when the addon is missing or older than any of its sources.
  if [ -f "$native_addon" ] && [ -z "$(find native/src native/binding.gyp -newer "$native_addon" 2>/dev/null)" ]; then
    say "native backend: addon is up to date."
    return 0
  fi
  say "native backend: building the addon (npm run build:native, about a minute; log in $native_log)..."
  # node-gyp would download Node's headers (impossible offline) unless told where they are.
  if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then export npm_config_nodedir=/usr; fi
  if npm run --silent build:native >"$native_log" 2>&1; then
    say "native backend: addon built."
  else
    native_missing "the addon build failed (see $native_log)"
    say "native backend: the addon build failed (see $native_log); the reference backend works meanwhile."
  fi
}

setup_native

# clang-format checks the C++ addon's formatting in `npm run lint` (optional: lint says when it is missing).
command -v clang-format >/dev/null 2>&1 || apt_install "lint" clang-format || true

# Fashion-MNIST (optional): the real-data test and loadFashionMnist() read Debian's copy.
[ -d /usr/share/datasets/fashion-mnist ] || apt_install "data (Fashion-MNIST)" dataset-fashion-mnist || true

# PyTorch and ONNX for the interoperability tests (Debian's python3-torch, python3-torchvision,
# python3-onnx under /usr/bin/python3): they compare convkit with files PyTorch writes and check
# that PyTorch reads convkit's. Without them those tests are skipped and say why.
/usr/bin/python3 -c 'import torch, torchvision, onnx' >/dev/null 2>&1 ||
  apt_install "interoperability tests (PyTorch, ONNX; a few minutes)" python3-torch python3-torchvision python3-onnx ||
  true

# The web explorer (convkit serve): the page is bundled by Vite into dist/web; build it when it is
# missing or older than its sources (web/ and the convkit sources it bundles). About 5 s.
page=dist/web/index.html
if [ ! -f "$page" ] || [ -n "$(find web src -newer "$page" -type f 2>/dev/null | head -n 1)" ]; then
  say "explorer: building the page (npm run build:web)..."
  if npm run --silent build:web >/dev/null 2>web/build-web.log; then
    say "explorer: page built in dist/web."
  else
    say "explorer: the page build failed (see web/build-web.log); convkit serve needs it."
  fi
else
  say "explorer: page is up to date."
fi

# Chromium (optional): the explorer's browser tests and scripts/bench-explorer.ts drive Debian's
# chromium with playwright-core; without it those tests are skipped and say why.
command -v chromium >/dev/null 2>&1 || apt_install "explorer browser tests" chromium || true
