#!/usr/bin/env bash
# One call on a GPU machine: build gmha's CUDA decode kernels with nvcc alone (no Debian
# packages, no network: the check program needs only the CUDA toolkit and the C++ standard
# library), validate them against a double-precision CPU reference, time them, time PyTorch's
# scaled_dot_product_attention on the same shapes, and print one short table.
#
#   scripts/device-check.sh            # results under $OUT (default /tmp/gmha-device-check)
#
# Exit code: 0 all checks passed, 1 a validation failed, 2 no GPU / no nvcc.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/gmha-device-check}"
mkdir -p "$OUT"
NVCC="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
if [[ ! -x "$NVCC" ]]; then echo "device-check: nvcc not found (set NVCC=...)" >&2; exit 2; fi
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "device-check: no GPU visible (nvidia-smi -L failed)" >&2; exit 2
fi
CC="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')"
echo "== build (sm_${CC}) with $NVCC"
"$NVCC" -O3 -std=c++17 -arch="sm_${CC}" -o "$OUT/device_check" \
  src/kernels/cuda/device_check.cu src/kernels/cuda/decode_attention.cu
echo "== validate against the double CPU reference, then time"
set +e
"$OUT/device_check" --json "$OUT/rows.jsonl" | tee "$OUT/gmha.txt"
status=${PIPESTATUS[0]}
set -e
echo "== PyTorch scaled_dot_product_attention on the same shapes"
PY="${PYTHON:-python3}"
if "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  "$PY" bench/decode_torch_sdpa.py "$OUT/rows.jsonl" | tee "$OUT/table.txt"
else
  echo "device-check: PyTorch with CUDA not importable; gmha numbers only" | tee "$OUT/table.txt"
fi
date -u +"date: %Y-%m-%dT%H:%M:%SZ" | tee -a "$OUT/table.txt"
exit "$status"
