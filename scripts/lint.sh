#!/usr/bin/env bash
# Formatting and lint checks that `npm test` runs: Biome over the TypeScript and JavaScript
# (biome.jsonc), clang-format over the C++ addon (native/.clang-format). `npm run format` applies both.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[lint] %s\n' "$*"; }

npx biome check --error-on-warnings
if command -v clang-format >/dev/null 2>&1; then
  clang-format --dry-run --Werror native/src/*.cc native/src/*.h
  say "native/src is clang-formatted."
else
  say "clang-format is missing, so native/src was not checked (scripts/setup.sh installs it with apt when root or sudo)."
fi
