#!/usr/bin/env bash
# Regenerates every PyTorch golden fixture under test/golden/ by running scripts/golden/*.py with
# Debian's PyTorch (python3-torch, python3-torchvision), installing them first when missing
# (scripts/ensure-torch.sh).
# `npm test` never needs this: the fixtures are committed.
set -euo pipefail
cd "$(dirname "$0")/.."
py=/usr/bin/python3
say() { printf '[golden] %s\n' "$*"; }

bash scripts/ensure-torch.sh golden "needed only to regenerate fixtures"

for script in scripts/golden/*.py; do
  case "$(basename "$script")" in common.py | interop.py) continue ;; esac  # interop.py: npm run check:interop
  say "running $script"
  "$py" "$script"
done
say "fixtures written under test/golden/; review the diff and commit them."
