#!/usr/bin/env bash
# Speed of `gmha audit` on quantized checkpoints against BF16 (issue 12 "Speed": a Q4_K_M audit
# costs at most 1.3x the BF16 audit of the same model). Writes a Llama-3-8B-shaped synth of
# LAYERS layers in each dtype (same seed, so the same planted weights), warms the page cache,
# then times the audits interleaved (bf16, q, bf16, q, ...) and prints each dtype's median wall
# and user-CPU time and the medians of the per-pair ratios q / bf16 (on a shared machine the CPU
# ratio is the steadier one).
# Usage: bench/audit_quant_run.sh BUILD_DIR [RUNS] [LAYERS] [DTYPES...]
#        (defaults: 5 runs, 2 layers, q4_k_m; more: q8_0 q4_k mxfp4 nvfp4 fp8-block)
set -euo pipefail
build=${1:?build dir}
runs=${2:-5}
layers=${3:-2}
shift $(( $# < 3 ? $# : 3 ))
dtypes=("${@:-q4_k_m}")
gmha="$build/gmha"
root=${GMHA_BENCH_DIR:-/tmp/gmha-bench-quant}
mkdir -p "$root"
input() {  # the path to audit for a dtype (GGUF dtypes write one model.gguf)
  case $1 in q8_0|q4_k|q4_k_m) echo "$root/$1/model.gguf" ;; *) echo "$root/$1" ;; esac
}
for dt in bf16 "${dtypes[@]}"; do
  [ -e "$(input "$dt")" ] ||
    "$gmha" synth "$root/$dt" --preset llama3-8b --layers "$layers" --dtype "$dt" --seed 1 --force > /dev/null
  cat "$root/$dt"/* > /dev/null  # page cache: time the audit, not the disk
done
echo "llama3-8b shape, $layers layers, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
out="$root/times.txt"
: > "$out"
"$gmha" audit "$(input bf16)" --format json --out "$root/audit.json" > /dev/null  # warm-up
for ((i = 0; i < runs; i++)); do
  for dt in bf16 "${dtypes[@]}"; do
    /usr/bin/time -f "$dt %e %U %M" -a -o "$out" "$gmha" audit "$(input "$dt")" --format json --out "$root/audit-$dt.json" > /dev/null
  done
done
python3 - "$out" "${dtypes[@]}" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
t = {}
for dt, wall, user, rss in rows:
    t.setdefault(dt, []).append((float(wall), float(user), int(rss)))
def col(dt, k): return [x[k] for x in t[dt]]
med = statistics.median
for dt in ["bf16"] + sys.argv[2:]:
    w, u = col(dt, 0), col(dt, 1)
    line = f"{dt:9s} wall {med(w):6.2f} s  user {med(u):6.2f} s  peak {max(col(dt, 2)) / 1024:5.0f} MB"
    if dt != "bf16":
        rw = [a / b for a, b in zip(w, col("bf16", 0))]
        ru = [a / b for a, b in zip(u, col("bf16", 1))]
        line += f"  ratio wall {med(rw):.3f}  user {med(ru):.3f} (pairs: {', '.join(f'{x:.2f}' for x in rw)})"
    print(line)
PY
