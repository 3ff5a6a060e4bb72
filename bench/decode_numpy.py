#!/usr/bin/env python3
"""NumPy (and PyTorch, when importable) baseline for `gmha bench decode`.

One decode step for every KV group: softmax(q @ K^T * scale) @ V with q [heads_per_group, qk],
K [T, qk], V [T, v], the same three steps gmha's kernel fuses. Prints the median time of one
step, GFLOP/s with the FLOPs gmha counts (2 * heads * T * (qk + v)), and numpy's own sgemm rate
(2048^3) measured in the same run. Threads: --threads sets OPENBLAS_NUM_THREADS / OMP /
torch.set_num_threads before anything is imported.

  python3 bench/decode_numpy.py --heads 64 --kv-heads 1 --qk 256 --v 256 --context 32768 --threads 2
  python3 bench/decode_numpy.py --heads 128 --kv-heads 1 --qk 576 --v 512 --context 4096  # MLA absorbed
"""
import argparse
import json
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heads", type=int, required=True, help="query heads n")
    ap.add_argument("--kv-heads", type=int, default=1, help="KV groups g")
    ap.add_argument("--qk", type=int, required=True, help="score width per head")
    ap.add_argument("--v", type=int, required=True, help="value width per head")
    ap.add_argument("--context", type=int, default=32768)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"], help="bf16: torch only")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    # Debian's OpenBLAS 0.3.21 takes some virtualised AVX-512 Xeons for "Prescott" (SSE3 kernels,
    # ~5x slower sgemm); give NumPy the AVX-512 kernels, as gmha's own sgemm measurement does.
    try:
        if "avx512f" in open("/proc/cpuinfo").read():
            os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")
    except OSError:
        pass
    results_env = {"openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "auto")}
    import numpy as np

    if a.heads % a.kv_heads:
        sys.exit("error: --heads must be divisible by --kv-heads")
    hpg, T = a.heads // a.kv_heads, a.context
    scale = 1.0 / (a.qk ** 0.5)
    flops = 2.0 * a.heads * T * (a.qk + a.v)
    rng = np.random.default_rng(0)
    q = rng.standard_normal((a.kv_heads, hpg, a.qk), dtype=np.float32)
    k = rng.standard_normal((a.kv_heads, T, a.qk), dtype=np.float32)
    v = rng.standard_normal((a.kv_heads, T, a.v), dtype=np.float32)
    results = {**results_env, "threads": a.threads, "context": T, "heads": a.heads, "kv_heads": a.kv_heads, "flops": flops}

    def median_time(fn, reps):
        fn()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        times.sort()
        return times[len(times) // 2]

    n = 2048
    A = np.ones((n, n), np.float32)
    results["numpy_sgemm_gflops"] = 2.0 * n ** 3 / median_time(lambda: A @ A, 4) / 1e9

    def numpy_step():
        out = np.empty((a.kv_heads, hpg, a.v), np.float32)
        for g in range(a.kv_heads):
            s = (q[g] @ k[g].T) * np.float32(scale)
            s -= s.max(axis=1, keepdims=True)
            np.exp(s, out=s)
            s /= s.sum(axis=1, keepdims=True)
            out[g] = s @ v[g]
        return out

    if a.dtype == "fp32":
        t = median_time(numpy_step, a.repeats)
        results["numpy_seconds"] = t
        results["numpy_gflops"] = flops / t / 1e9
    try:
        import torch
        torch.set_num_threads(a.threads)
        tdt = torch.float32 if a.dtype == "fp32" else torch.bfloat16
        tq, tk, tv = (torch.from_numpy(x).to(tdt) for x in (q, k, v))

        def torch_step():
            with torch.no_grad():
                s = torch.softmax(torch.matmul(tq, tk.transpose(1, 2)) * scale, dim=-1)
                return torch.matmul(s, tv)

        t = median_time(torch_step, a.repeats)
        results["torch_version"] = torch.__version__
        results["torch_seconds"] = t
        results["torch_gflops"] = flops / t / 1e9
    except ImportError:
        results["torch"] = "not installed"
    if a.json:
        print(json.dumps(results, indent=2))
    else:
        for key, val in results.items():
            print(f"{key:>20}: {val:.6g}" if isinstance(val, float) else f"{key:>20}: {val}")


if __name__ == "__main__":
    main()
