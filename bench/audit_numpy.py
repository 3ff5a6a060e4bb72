#!/usr/bin/python3
"""NumPy baselines for `gmha audit` on a Llama-shaped safetensors folder (BF16 or F32).

  dense:    the formed d×d circuit W_c = Wq_cᵀ·Wk_g and its full SVD (np.linalg.svd), on a sample
            of heads; the time per head is extrapolated to every head and circuit of the model.
  factored: the primer's method in NumPy: R of each factor by np.linalg.qr(mode='r') in float64,
            then the singular values of R_a·R_bᵀ, for every QK and VO circuit of --layers layers,
            extrapolated to the whole model.

Usage: bench/audit_numpy.py CHECKPOINT_DIR [--layers 2] [--dense-heads 2]
Prints one JSON object (seconds) on stdout. Standard library + numpy only.
"""
import argparse
import json
import os
import struct
import time

# Debian 12's OpenBLAS 0.3.21 takes some virtualised AVX-512 Xeons for "Prescott" (SSE3 kernels,
# several times slower); give NumPy the AVX-512 kernels, as gmha itself does, so the comparison is
# with the peer at its best. Must be set before numpy loads OpenBLAS.
try:
    if "avx512f" in open("/proc/cpuinfo").read():
        os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")
except OSError:
    pass

import numpy as np  # noqa: E402


def load_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)), 8 + n


def tensor(folder, name, index_cache={}):
    idx = os.path.join(folder, "model.safetensors.index.json")
    file = "model.safetensors"
    if os.path.exists(idx):
        if "map" not in index_cache:
            index_cache["map"] = json.load(open(idx))["weight_map"]
        file = index_cache["map"][name]
    path = os.path.join(folder, file)
    header, base = load_header(path)
    t = header[name]
    b, e = t["data_offsets"]
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=base + b, shape=(e - b,))
    if t["dtype"] == "BF16":
        u = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
        a = u.view(np.float32)
    elif t["dtype"] == "F32":
        a = np.frombuffer(raw, dtype=np.float32)
    else:
        raise SystemExit(f"{name}: dtype {t['dtype']} not handled by this baseline")
    return a.reshape(t["shape"]).astype(np.float64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dense-heads", type=int, default=2)
    args = ap.parse_args()
    cfg = json.load(open(os.path.join(args.folder, "config.json")))
    d, n, g = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    h = cfg.get("head_dim") or d // n
    L = cfg["num_hidden_layers"]
    rs = lambda x: np.linalg.qr(x, mode="r")

    t0 = time.perf_counter()
    for l in range(args.layers):
        p = f"model.layers.{l}.self_attn."
        q, k, v, o = (tensor(args.folder, p + x + ".weight") for x in ("q_proj", "k_proj", "v_proj", "o_proj"))
        rk = [rs(k[j * h:(j + 1) * h].T) for j in range(g)]
        rv = [rs(v[j * h:(j + 1) * h].T) for j in range(g)]
        for c in range(n):
            j = c // (n // g)
            np.linalg.svd(rs(q[c * h:(c + 1) * h].T) @ rk[j].T, compute_uv=False)
            np.linalg.svd(rv[j] @ rs(o[:, c * h:(c + 1) * h]).T, compute_uv=False)
        np.linalg.svd(k.T, compute_uv=False)  # measured SLSD: the stacked keys
    factored = (time.perf_counter() - t0) / args.layers * L

    q = tensor(args.folder, "model.layers.0.self_attn.q_proj.weight")
    k = tensor(args.folder, "model.layers.0.self_attn.k_proj.weight")
    t0 = time.perf_counter()
    for c in range(args.dense_heads):
        w = q[c * h:(c + 1) * h].T @ k[0:h]
        np.linalg.svd(w, compute_uv=False)
    per_circuit = (time.perf_counter() - t0) / args.dense_heads
    print(json.dumps({"numpy_factored_s": factored, "numpy_dense_per_circuit_s": per_circuit,
                      "numpy_dense_model_s": per_circuit * 2 * n * L,
                      "layers_timed": args.layers, "dense_heads_timed": args.dense_heads,
                      "numpy": np.__version__}))


if __name__ == "__main__":
    main()
