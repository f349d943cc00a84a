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
  npm ci --no-audit --no-fund
  say "npm packages installed."
else
  say "npm packages are up to date."
fi
