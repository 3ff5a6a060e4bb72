#!/usr/bin/env bash
# Benchmark of `gmha audit` on a Llama-3-8B-shaped BF16 checkpoint made by `gmha synth`, against
# its floors (attention-weight bytes / read bandwidth, factored FLOPs / GEMM rate measured by
# bench/audit_bench with the library's own Eigen build) and against NumPy (OpenBLAS).
# Usage: bench/audit_run.sh BUILD_DIR [CHECKPOINT_DIR]   (BUILD_DIR configured with
#        -DGMHA_BUILD_BENCH=ON; the checkpoint is written on first use, ~2.7 GB)
set -euo pipefail
build=${1:?build dir}
ck=${2:-/tmp/gmha-bench-llama3-8b-bf16}
gmha="$build/gmha"
[ -f "$ck/config.json" ] || "$gmha" synth "$ck" --preset llama3-8b --dtype bf16 --seed 1 --shard-gb 5
bytes=$(python3 -c "import json,sys;print(sum(v['data_offsets'][1]-v['data_offsets'][0] for f in ['$ck/'+x for x in __import__('os').listdir('$ck') if x.endswith('.safetensors')] for k,v in json.loads(open(f,'rb').read()[8:8+int.from_bytes(open(f,'rb').read(8),'little')]).items() if k!='__metadata__'))")
cat "$ck"/*.safetensors > /dev/null  # warm the page cache: the floor is memory, not disk
echo "checkpoint: $ck ($bytes bytes of attention weights), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$build/bench/audit_bench" --benchmark_format=json --benchmark_min_time=0.2 > /tmp/audit_bench.json
/usr/bin/time -f "%e %M" -o /tmp/audit_time.txt "$gmha" audit "$ck" --format json --out /tmp/audit_out.json
read -r wall rss_kb < /tmp/audit_time.txt
/usr/bin/python3 bench/audit_numpy.py "$ck" --layers 2 --dense-heads 2 > /tmp/audit_numpy.json
python3 - "$bytes" "$wall" "$rss_kb" "$ck" <<'PY'
import json, sys
bytes_, wall, rss_kb = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
b = {x["name"].split("/")[0]: x for x in json.load(open("/tmp/audit_bench.json"))["benchmarks"]}
bw = b["BM_ReadBandwidth"]["bytes_per_second"]
# One core measured, the audit uses both. The floor takes the best double rate this machine
# showed: OpenBLAS's dsyrk on a stacked key when installed, else Eigen's GEMM.
blas = b.get("BM_BlasGramKeys", {}).get("FLOP/s", 0)
gemm = max(b["BM_Gemm"]["FLOP/s"], blas) * 2
gram = b["BM_GramHead"]["FLOP/s"] * 2
c = json.load(open(sys.argv[4] + "/config.json"))
L, d, n, g = c["num_hidden_layers"], c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
h = c.get("head_dim") or d // n
flops_layer = (2 * n + 2 * g) * d * h * (h + 1) + d * (g * h) * (g * h + 1)  # Gram of every factor + stacked keys
flops = flops_layer * L
floor_bytes, floor_flops = bytes_ / bw, flops / gemm
floor = max(floor_bytes, floor_flops)
npy = json.load(open("/tmp/audit_numpy.json"))
out = {"attention_bytes": bytes_, "read_bandwidth_Bps": bw, "gemm_rate_2cores_flops": gemm,
       "gram_rate_2cores_flops": gram, "factored_flops": flops, "floor_bytes_s": floor_bytes,
       "floor_flops_s": floor_flops, "floor_s": floor, "gmha_audit_s": wall,
       "ratio_to_floor": wall / floor, "peak_rss_MB": rss_kb / 1024, **npy,
       "numpy_factored_over_gmha": npy["numpy_factored_s"] / wall,
       "numpy_dense_over_gmha": npy["numpy_dense_model_s"] / wall}
print(json.dumps(out, indent=2))
PY
