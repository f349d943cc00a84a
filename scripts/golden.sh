#!/usr/bin/env bash
# Regenerates every PyTorch golden fixture under test/golden/ by running scripts/golden/*.py with
# Debian's PyTorch (python3-torch, python3-torchvision), installing them first when missing.
# `npm test` never needs this: the fixtures are committed.
set -euo pipefail
cd "$(dirname "$0")/.."
py=/usr/bin/python3
say() { printf '[golden] %s\n' "$*"; }

if ! "$py" -c 'import torch, torchvision' 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; else
    say "PyTorch is missing: install it with 'sudo apt-get install python3-torch python3-torchvision' and run again."
    exit 1
  fi
  say "installing Debian's python3-torch and python3-torchvision (needed only to regenerate fixtures)..."
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-torch python3-torchvision
fi

for script in scripts/golden/*.py; do
  [ "$(basename "$script")" = common.py ] && continue
  say "running $script"
  "$py" "$script"
done
say "fixtures written under test/golden/; review the diff and commit them."
