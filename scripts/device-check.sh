#!/usr/bin/env bash
# One call on a GPU machine (budget: under 10 minutes on an H200):
#   1. builds the standalone check (src/kernels/cuda/device_check.cu + decode_attention.cu) with
#      nvcc for the visible GPU's architecture; it needs only the CUDA toolkit (runtime, cuBLAS);
#   2. runs it: validates every kernel version (v0 naive, v1, v2) on every shape against a float64
#      CPU reference (GQA/MQA/MHA, MLA 576/512 = the widest value path, MFA, MFA-KR in both RoPE
#      pairings, odd lengths, batch 1..64, forced many-split merges, fp32 and bf16 caches), checks
#      the device-resident cache API, then times the default kernels at T=32K against the bound
#      that binds (HBM bytes from memory clock x bus width, tensor FLOPs from SMs x clock x mma
#      rate) and against a cuBLAS GEMM + softmax + GEMM baseline in the same run;
#   3. when CMake and gmha's Debian dependencies are present, configures and builds gmha with
#      CUDA and runs `gmha validate --device cuda` and the CUDA unit tests (otherwise says so).
# Writes $OUT/summary.json (the numbers docs quote), $OUT/device_check.txt and logs.
#
#   scripts/device-check.sh [OUTDIR]      # default: $OUT, else /tmp/gmha-device-check
#   QUICK=1 scripts/device-check.sh       # short contexts, fewer cases (a smoke run)
#
# Exit code: 0 all checks passed, 1 a validation failed, 2 no GPU / no nvcc, 3 build or CUDA error.
set -euo pipefail
cd "$(dirname "$0")/.."
OUTDIR="${1:-${OUT:-/tmp/gmha-device-check}}"
mkdir -p "$OUTDIR"
log() { echo "device-check: $*" >&2; }
BUDGET="${BUDGET:-570}"  # seconds for the whole call; later phases get what is left
left() { echo $(( BUDGET - SECONDS )); }

NVCC="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
[[ -x "$NVCC" ]] || { log "nvcc not found (set NVCC=...)"; exit 2; }
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  log "no GPU visible (nvidia-smi -L failed)"; exit 2
fi
nvidia-smi -L | tee "$OUTDIR/gpu.txt"
CC="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')"
[[ "$CC" =~ ^[0-9]+$ ]] || { log "cannot read the compute capability ('$CC')"; exit 2; }
(( CC >= 80 )) || { log "sm_$CC: the v2 kernel needs sm_80 or newer"; exit 2; }

echo "== build device_check (sm_${CC}) with $NVCC"
if ! timeout 180 "$NVCC" -O3 -std=c++17 -arch="sm_${CC}" -lineinfo -Iinclude -o "$OUTDIR/device_check" \
    src/kernels/cuda/device_check.cu src/kernels/cuda/decode_attention.cu -lcublas \
    >"$OUTDIR/build.log" 2>&1; then
  cat "$OUTDIR/build.log" >&2; log "nvcc build failed"; exit 3
fi

echo "== validate (float64 CPU reference), device cache, timing vs roofline and cuBLAS"
ARGS=(--json "$OUTDIR/summary.json")
[[ "${QUICK:-0}" == 1 ]] && ARGS+=(--quick)
set +e
timeout 300 "$OUTDIR/device_check" "${ARGS[@]}" 2>&1 | tee "$OUTDIR/device_check.txt"
status=${PIPESTATUS[0]}
set -e
case "$status" in
  0) ;;
  1) log "validation FAILED (see $OUTDIR/device_check.txt)" ;;
  124) log "device_check timed out after 300 s"; status=3 ;;
  *) log "device_check exited $status"; [[ "$status" == 2 ]] || status=3 ;;
esac

echo "== gmha with CUDA (CMake build, validate --device cuda, CUDA tests)"
BUILD="${BUILD_DIR:-/tmp/gmha-device-build}"  # not under OUTDIR: only results travel back
if [[ "$status" != 0 ]] || ! command -v cmake >/dev/null || (( $(left) < 200 )); then
  log "gmha build skipped: validation failed above, no cmake, or under 200 s of the budget left"
  echo "skipped" >"$OUTDIR/gmha_validate.txt"
elif ! timeout 60 cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGMHA_CUDA=ON \
       -DCMAKE_CUDA_ARCHITECTURES="$CC" >"$OUTDIR/cmake.log" 2>&1; then
  log "gmha not configured (Eigen, fmt, CLI11, nlohmann_json or Catch2 absent? see $OUTDIR/cmake.log); standalone results stand"
  echo "skipped: cmake configure failed" >"$OUTDIR/gmha_validate.txt"
else
  if timeout $(( $(left) - 90 )) cmake --build "$BUILD" -j"$(nproc)" --target gmha gmha_tests_kernels >>"$OUTDIR/cmake.log" 2>&1; then
    set +e
    timeout 60 "$BUILD/gmha" validate --device cuda 2>&1 | tee "$OUTDIR/gmha_validate.txt"
    v=${PIPESTATUS[0]}
    (cd "$BUILD" && timeout 30 ./tests/gmha_tests_kernels "[cuda]" 2>&1 | tee "$OUTDIR/gmha_cuda_tests.txt"; exit "${PIPESTATUS[0]}")
    t=$?
    set -e
    if [[ "$v" != 0 || "$t" != 0 ]]; then log "gmha validate --device cuda ($v) or CUDA tests ($t) failed"; status=1; fi
  else
    log "gmha build failed or ran out of budget (see $OUTDIR/cmake.log); the standalone results above stand"
    echo "gmha build failed" >"$OUTDIR/gmha_validate.txt"
  fi
fi
date -u +"date: %Y-%m-%dT%H:%M:%SZ" | tee -a "$OUTDIR/device_check.txt"
echo "summary: $OUTDIR/summary.json"
exit "$status"
