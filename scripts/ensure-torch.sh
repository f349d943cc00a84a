#!/usr/bin/env bash
# Makes sure Debian's PyTorch (python3-torch, python3-torchvision) is importable by /usr/bin/python3,
# installing it with apt when running as root or with password-less sudo.
#   scripts/ensure-torch.sh TAG WHY [--optional]
# TAG prefixes the messages, WHY says what needs it. Without the packages and without a way to
# install them it exits 1, or 0 with --optional (the caller then runs without PyTorch).
set -euo pipefail
tag=$1 why=$2 optional=${3:-}
py=/usr/bin/python3
say() { printf '[%s] %s\n' "$tag" "$*"; }

"$py" -c 'import torch, torchvision' 2>/dev/null && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; else
  say "PyTorch is missing ($why): install it with 'sudo apt-get install python3-torch python3-torchvision' and run again."
  [ "$optional" = --optional ] && exit 0 || exit 1
fi
say "installing Debian's python3-torch and python3-torchvision ($why; about a minute)..."
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-torch python3-torchvision >/dev/null
say "PyTorch installed."
