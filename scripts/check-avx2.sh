#!/usr/bin/env bash
# Runs a command as on an AVX2-only host, on an AVX-512 machine: the addon built for Haswell
# (-march=haswell: no AVX-512 code, so convkit's own kernels are the AVX2 ones, the Winograd
# conv and the small-batch linear loop's AVX2 path, as they would be there), loaded through
# CONVKIT_NATIVE_ADDON, and oneDNN capped at AVX2 (ONEDNN_MAX_CPU_ISA,
# which PyTorch's bundled oneDNN reads too; ATEN_CPU_CAPABILITY and OPENBLAS_CORETYPE cap the
# PyTorch peer's other kernels). ONNX Runtime cannot be capped: it picks its kernels by CPUID, so
# ratios against it are not an AVX2 host's (they flatter ONNX Runtime).
#
#   bash scripts/check-avx2.sh                      the test suite
#   bash scripts/check-avx2.sh npm run bench        any command
#
# The build is kept in node_modules/.cache/convkit-avx2/ and redone when native/ changes.
set -euo pipefail
cd "$(dirname "$0")/.."

out=node_modules/.cache/convkit-avx2
addon="$out/native/build/Release/convkit_native.node"
if [ ! -f "$addon" ] || [ -n "$(find native/src native/binding.gyp -newer "$addon" 2>/dev/null)" ]; then
  echo "[check-avx2] building the addon for -march=haswell in $out (about a minute)..."
  rm -rf "$out/native"
  mkdir -p "$out/native"
  cp -r native/src "$out/native/"
  sed 's/"-march=native"/"-march=haswell"/' native/binding.gyp >"$out/native/binding.gyp"
  grep -q -- '-march=haswell' "$out/native/binding.gyp" || {
    echo "[check-avx2] native/binding.gyp has no -march=native to replace" >&2
    exit 1
  }
  ln -sfn "$PWD/node_modules" "$out/node_modules" # node-addon-api, found from the copy
  gyp="$PWD/node_modules/.bin/node-gyp"
  (cd "$out" && npm_config_nodedir=/usr "$gyp" rebuild --directory native) >"$out/build.log" 2>&1 || {
    echo "[check-avx2] the build failed (see $out/build.log)" >&2
    exit 1
  }
fi

export CONVKIT_NATIVE_ADDON="$PWD/$addon"
export ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 OPENBLAS_CORETYPE=Haswell
echo "[check-avx2] CONVKIT_NATIVE_ADDON=$CONVKIT_NATIVE_ADDON, oneDNN capped at AVX2"
if [ $# -eq 0 ]; then
  set -- node --import tsx --test --test-concurrency=2 --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=./test/helpers/summary-reporter.mjs --test-reporter-destination=stdout \
    $(find test -name "*.test.ts" | sort)
fi
exec "$@"
