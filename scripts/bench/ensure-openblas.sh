#!/usr/bin/env bash
# Makes sure Debian's OpenBLAS (libopenblas0-pthread) is on disk for the PyTorch peer of
# `npm run bench`, installing it with apt when running as root or with password-less sudo.
#   scripts/bench/ensure-openblas.sh TAG
# The peer alone loads it (scripts/bench/peers.ts puts its folder on the peer's LD_LIBRARY_PATH);
# the system's libblas.so.3 / liblapack.so.3 must stay what they were, or every other PyTorch
# caller (the golden scripts) would change BLAS. The package registers itself with
# update-alternatives at a higher priority than netlib's, so the current choices are pinned
# (manual mode) before installing. Without the package and a way to install it, it says so and
# exits 0: the peer then runs on the system's BLAS and the bench prints which one.
set -euo pipefail
tag=$1
dir=/usr/lib/x86_64-linux-gnu/openblas-pthread
say() { printf '[%s] %s\n' "$tag" "$*"; }

[ -e "$dir/libblas.so.3" ] && exit 0
missing="OpenBLAS is missing (the PyTorch peer's BLAS): install it with 'sudo apt-get install libopenblas0-pthread'; the peer runs on the system BLAS meanwhile."
command -v apt-get >/dev/null || { say "$missing"; exit 0; }
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; else
  say "$missing"
  exit 0
fi
say "installing Debian's libopenblas0-pthread for the PyTorch peer alone (the system's libblas.so.3 and liblapack.so.3 stay as they are)..."
for name in libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu; do
  current=$(update-alternatives --query "$name" 2>/dev/null | sed -n 's/^Value: //p')
  [ -n "$current" ] && $sudo update-alternatives --quiet --set "$name" "$current"
done
if $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libopenblas0-pthread >/dev/null; then
  say "OpenBLAS installed in $dir."
else
  say "apt-get could not install libopenblas0-pthread; the PyTorch peer runs on the system BLAS (the bench says which)."
fi
