#!/usr/bin/env python3
"""PyTorch baseline for scripts/device-check.sh: times torch.nn.functional.scaled_dot_product_attention
on the GPU for the shapes gmha's device_check timed (rows.jsonl from `device_check --json`) and
prints one table: gmha vs SDPA time, GB/s, fraction of the measured copy bandwidth.

The query is [B, n, 1, qk]; K/V are [B, g, T, qk/v] with enable_gqa (no copies of the shared
heads) when this PyTorch has it, else expanded views. MLA/MFA-KR rows (alias=1) pass V as a
slice of K, so SDPA reads the same bytes gmha does.

  python3 bench/decode_torch_sdpa.py rows.jsonl
"""
import json
import sys


def main():
    import torch
    import torch.nn.functional as F

    rows = [json.loads(line) for line in open(sys.argv[1])]
    dev = torch.device("cuda")
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}")
    hdr = f"{'shape':40} {'cache':5} {'T':>6} {'B':>2} {'gmha us':>9} {'sdpa us':>9} {'gmha GB/s':>9} {'sdpa GB/s':>9} {'gmha %bw':>8} {'speedup':>7}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        B, g, hpg, T, qk, v = r["batch"], r["groups"], r["heads_per_group"], r["context"], r["qk"], r["v"]
        dt = torch.float32 if r["dtype"] == "fp32" else torch.bfloat16
        n = g * hpg
        q = torch.randn(B, n, 1, qk, device=dev, dtype=dt)
        k = torch.randn(B, g, T, qk, device=dev, dtype=dt)
        vv = k[..., :v] if r["alias"] else torch.randn(B, g, T, v, device=dev, dtype=dt)
        kwargs = {}
        try:
            F.scaled_dot_product_attention(q[:, :1], k[:, :1], vv[:, :1], enable_gqa=True)
            kwargs["enable_gqa"] = True
            kk, vx = k, vv
        except TypeError:
            kk = k.repeat_interleave(hpg, dim=1) if hpg > 1 else k
            vx = vv.repeat_interleave(hpg, dim=1) if hpg > 1 else vv
        if g == 1 and "enable_gqa" in kwargs:
            kk, vx = k, vv
        fn = lambda: F.scaled_dot_product_attention(q, kk, vx, **kwargs)
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        reps = 20
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        torch.cuda.synchronize()
        sdpa = start.elapsed_time(end) / reps * 1e-3
        gb = r["bytes"] / 1e9
        print(f"{r['shape'][:40]:40} {r['dtype']:5} {T:6d} {B:2d} {r['seconds']*1e6:9.1f} {sdpa*1e6:9.1f} "
              f"{gb/r['seconds']:9.0f} {gb/sdpa:9.0f} {100*r['bytes']/r['seconds']/r['copy_bw']:7.0f}% "
              f"{sdpa/r['seconds']:6.2f}x")


if __name__ == "__main__":
    main()
