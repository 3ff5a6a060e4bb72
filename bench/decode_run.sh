#!/usr/bin/env bash
# Decode-step benchmark: `gmha bench decode` on the Step-3 MFA, Llama-3-8B GQA and DeepSeek-V3
# MLA shapes (fp32 and bf16 caches), each beside NumPy and PyTorch doing the same three steps
# (bench/decode_numpy.py) in the same run, interleaved so that a noisy neighbour hits both.
# Usage: bench/decode_run.sh BUILD_DIR [ROUNDS]   -> one JSON line per measurement on stdout
# Needs Debian's python3-numpy (and python3-torch for the PyTorch column).
set -euo pipefail
build=${1:?build dir}
rounds=${2:-3}
py=/usr/bin/python3
threads=$(nproc)
echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $threads threads," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# name | gmha design | context | numpy shape
shapes=(
  "step3-mfa|mfa:d=7168,heads=64,c=256,cq=2048|32768|--heads 64 --kv-heads 1 --qk 256 --v 256"
  "llama3-8b-gqa|llama3-8b|32768|--heads 32 --kv-heads 8 --qk 128 --v 128"
  "deepseek-v3-mla|deepseek-v3|8192|--heads 128 --kv-heads 1 --qk 576 --v 512"
)
for ((r = 1; r <= rounds; ++r)); do
  for s in "${shapes[@]}"; do
    IFS='|' read -r name design ctx npshape <<< "$s"
    for dt in fp32 bf16; do
      "$build/gmha" bench decode --design "$design" --context "$ctx" --threads "$threads" --dtype "$dt" \
        --format json | $py -c "import json,sys; d=json.load(sys.stdin); d['shape']='$name'; d['round']=$r; print(json.dumps(d))"
    done
    # shellcheck disable=SC2086
    $py "$(dirname "$0")/decode_numpy.py" $npshape --context "$ctx" --threads "$threads" --json |
      $py -c "import json,sys; d=json.load(sys.stdin); d['shape']='$name'; d['round']=$r; print(json.dumps(d))"
  done
done
