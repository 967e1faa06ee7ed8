#!/usr/bin/env python3
"""The neighborhood-attention benchmark: attnjit against a dense masked PyTorch composition (what Liger-Kernel's
kernel computes: the full L x L scores and probabilities), FlexAttention with a block mask, dense SDPA (cuDNN
backend, no mask: the cost of ordinary attention at the same shape) and the memory floor, on a GPU.

attnjit's kernels are verified (where the CPU reference takes seconds, "verify": false otherwise) and timed by
`attnjit bench --json` (device events, warm-up, L2 flushed before every repetition, median). The PyTorch
baselines are timed here the same way. Memory: attnjit's extra bytes (row log-sum-exp and the backward's
workspace) beside the peak memory each baseline allocates beyond its inputs. Results go to
bench/results/<date>_<gpu>_<commit>/na_bench.{md,json}.

Usage: bench/na_bench.py [--attnjit build/attnjit] [--shapes bench/shapes/na.json] [--out DIR]
"""
import argparse
import datetime
import json
import math
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from mta_bench import build_commit, run_attnjit, time_cuda, fmt_us  # noqa: E402  (the same timing and CLI driver)

DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}


def allowed(L, kernel, dilation, device):
    """SPEC.md section 3's clipped window: |i - j| <= (kernel // 2) * dilation and (j - i) % dilation == 0."""
    i = torch.arange(L, device=device)[:, None]
    j = torch.arange(L, device=device)[None, :]
    return ((i - j).abs() <= (kernel // 2) * dilation) & ((j - i) % dilation == 0)


def dense_masked(q, k, v, mask, scale):
    scores = (q @ k.transpose(-1, -2)) * scale
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v


def measure(fn, inputs, reps):
    """Forward and forward+backward times and the peak bytes allocated beyond the inputs."""
    out = {}
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    out["forward"] = time_cuda(lambda: fn(*inputs), reps)
    leaves = [x.detach().requires_grad_(True) for x in inputs]
    grad = torch.randn_like(inputs[0])

    def fwd_bwd():
        for x in leaves:
            x.grad = None
        fn(*leaves).backward(grad)

    out["forward_backward"] = time_cuda(fwd_bwd, max(5, reps // 2))
    out["extra_peak_bytes"] = torch.cuda.max_memory_allocated() - base
    return out


def baselines(p, reps):
    dtype = DTYPES[p.get("dtype", "bf16")]
    B, H, L, D = p["batch"], p["heads"], p["length"], p["head_dim"]
    kernel, dilation = p.get("kernel_size", 7), p.get("dilation", 1)
    scale = p.get("scale") or 1.0 / math.sqrt(D)
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(B, H, L, D, device="cuda", dtype=dtype, generator=g) for _ in range(3))
    results = {}

    def attempt(label, make):
        try:
            results[label] = measure(make(), (q, k, v), reps)
        except Exception as e:  # an OOM, or a baseline this torch lacks, is a result too
            results[label] = {"error": f"{type(e).__name__}: {e}"[:300]}
        torch.cuda.empty_cache()

    scores_bytes = B * H * L * L * q.element_size()
    if scores_bytes * 4 < torch.cuda.get_device_properties(0).total_memory * 0.8:
        mask = allowed(L, kernel, dilation, q.device)
        attempt("dense_masked", lambda: lambda a, b, c: dense_masked(a, b, c, mask, scale))
    else:
        results["dense_masked"] = {"error": f"skipped: its L x L tensors need about {4 * scores_bytes / 2**30:.0f} GiB"}

    def flex():
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        half = (kernel // 2) * dilation

        def window(b, h, qi, kv):
            return ((qi - kv).abs() <= half) & ((kv - qi) % dilation == 0)

        block_mask = create_block_mask(window, None, None, L, L, device="cuda")
        compiled = torch.compile(flex_attention, dynamic=False)
        return lambda a, b, c: compiled(a, b, c, block_mask=block_mask, scale=scale)

    torch._dynamo.reset()
    attempt("flex_attention", flex)

    def sdpa():
        from torch.nn.attention import SDPBackend, sdpa_kernel

        def run(a, b, c):
            with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
                return torch.nn.functional.scaled_dot_product_attention(a, b, c, scale=scale)
        return run

    attempt("sdpa_cudnn_dense", sdpa)
    return results


def markdown(meta, rows):
    out = [f"# neighborhood-attention benchmark: {meta['date']}, {meta['gpu']}, commit {meta['commit']}", "",
           f"torch {meta['torch']}; medians of CUDA-event timings with L2 flushed before each repetition, in "
           "microseconds; floor = bytes moved / 3.0 TB/s (forward: Q, K, V read once, out written once); TFLOP/s "
           "counts in-window pairs only (4 D FLOPs per pair forward, 10 D backward); attnjit fwd+bwd is the sum of "
           "its forward and backward medians; memory: attnjit's extra bytes (log-sum-exp and workspace) and each "
           "baseline's peak beyond its inputs. attnjit's kernels: " + meta["configs"] + ".", "",
           "| shape | attnjit fwd | floor | x floor | TFLOP/s | attnjit fwd+bwd | extra memory | dense masked fwd / fwd+bwd (memory) | FlexAttention fwd / fwd+bwd (memory) | SDPA cuDNN dense fwd / fwd+bwd | vs dense masked fwd+bwd | verify |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        a, t = r["attnjit"], r["torch"]
        fwd, bwd = a["forward"], a["backward"]
        fb = fwd["median_us"] + bwd["median_us"]

        def cell(label, memory=True):
            x = t.get(label, {})
            if "error" in x:
                return x["error"][:80]
            text = f"{fmt_us(x['forward']['median_us'])} / {fmt_us(x['forward_backward']['median_us'])}"
            return text + (f" ({x['extra_peak_bytes'] / 2**20:.0f} MiB)" if memory else "")

        dense = t.get("dense_masked", {})
        speedup = f"{dense['forward_backward']['median_us'] / fb:.1f}x" if "forward_backward" in dense else "-"
        out.append("| " + " | ".join([
            r["name"], fmt_us(fwd["median_us"]), fmt_us(fwd["floor_us"]), f"{fwd['x_floor']:.2f}",
            f"{fwd['useful_tflops']:.1f}", fmt_us(fb), f"{a['extra_memory_bytes'] / 2**20:.1f} MiB",
            cell("dense_masked"), cell("flex_attention"), cell("sdpa_cudnn_dense", memory=False), speedup,
            a.get("verify", {}).get("summary", "not verified here (gpu suite)")]) + " |")
    out += ["", "Full figures (p20/p80, the backward alone, the problem JSON) are in na_bench.json."]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attnjit", default="build/attnjit", help="the attnjit command")
    ap.add_argument("--shapes", default="bench/shapes/na.json", help="problem file (attnjit's --problem format)")
    ap.add_argument("--out", help="results folder (default bench/results/<date>_<gpu>_<commit>)")
    ap.add_argument("--reps", type=int, default=30, help="timed repetitions")
    ap.add_argument("--cache", help="attnjit's store (default: a fresh temporary one)")
    ap.add_argument("--no-verify", action="store_true", help="skip attnjit's comparison with the CPU reference")
    args = ap.parse_args()
    problems = json.load(open(args.shapes))["problems"]
    gpu = torch.cuda.get_device_name(0)
    commit = os.environ.get("ATTNJIT_COMMIT") or build_commit(args.attnjit) or \
        subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "gpu": gpu,
            "commit": commit, "torch": torch.__version__,
            "configs": "the store's tuned winners" if args.cache else "the heuristic configs (nothing tuned)"}
    out = args.out or os.path.join("bench", "results", f"{meta['date'][:10]}_{gpu.replace(' ', '-')}_{commit}")
    os.makedirs(out, exist_ok=True)
    ours = run_attnjit(args.attnjit, problems, args.reps, verify=not args.no_verify, store=args.cache)
    rows = []
    for p, a in zip(problems, ours["results"]):
        print(f"timing PyTorch: {p['name']}", file=sys.stderr, flush=True)
        rows.append({"name": p["name"], "problem": p, "attnjit": a, "torch": baselines(p, args.reps)})
        with open(os.path.join(out, "na_bench.json"), "w") as f:  # after every shape: a cut run keeps what it has
            json.dump({"meta": meta, "rows": rows}, f, indent=1)
        text = markdown(meta, rows)
        with open(os.path.join(out, "na_bench.md"), "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
