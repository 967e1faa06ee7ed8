#!/usr/bin/env python3
"""The mta benchmark: attnjit against eager PyTorch, torch.compile and the memory floor, on a GPU.

attnjit's kernels are verified and timed by `attnjit bench --json` (device events, warm-up, L2
flushed before every repetition, median of many). The PyTorch baselines are timed here the same
way: CUDA events, warm-up, a write over twice the L2 before each repetition, median. Results go to
bench/results/<date>_<gpu>_<commit>/mta_bench.{md,json}.

Eager PyTorch is the composition SPEC.md defines: masked_fill(-1e9), softmax, conv2d,
masked_fill(0); backward through autograd.

Usage: bench/mta_bench.py [--attnjit build/attnjit] [--shapes bench/shapes/mta.json] [--out DIR]
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}


def pair(text):
    text = str(text)
    if "x" in text:
        a, b = text.split("x")
        return int(a), int(b)
    return int(text), int(text)


def padding_of(p, kh, kw, dh, dw):
    """(top, bottom, left, right), as the attnjit CLI reads the same JSON."""
    pad = p.get("padding", "same")
    if pad == "same":
        return dh * (kh - 1) // 2, dh * (kh - 1) // 2, dw * (kw - 1) // 2, dw * (kw - 1) // 2
    if pad == "causal":
        return dh * (kh - 1), 0, dw * (kw - 1) // 2, dw * (kw - 1) // 2
    if isinstance(pad, list):
        return tuple(pad)
    return (int(pad),) * 4


def eager_mta(scores, weight, bias, stride, pads, dilation, groups):
    L = scores.shape[-1]
    future = torch.ones(L, L, dtype=torch.bool, device=scores.device).triu(1)
    # -1e9 overflows fp16 (SPEC.md); there the eager baseline fills with fp16's lowest value instead.
    fill = torch.finfo(torch.float16).min if scores.dtype == torch.float16 else -1e9
    p = torch.softmax(scores.masked_fill(future, fill), dim=-1)
    top, bottom, left, right = pads
    y = F.conv2d(F.pad(p, (left, right, top, bottom)), weight, bias, stride, 0, dilation, groups)
    out_future = torch.ones(y.shape[-2:], dtype=torch.bool, device=y.device).triu(1)
    return y.masked_fill(out_future, 0.0)


def time_cuda(fn, reps, warmup=3):
    """Median, p20 and p80 in microseconds; L2 flushed before every repetition."""
    flush = torch.empty(2 * torch.cuda.get_device_properties(0).L2_cache_size // 4, dtype=torch.float32, device="cuda")
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(reps):
        flush.fill_(1.0)
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        samples.append(1000.0 * start.elapsed_time(stop))
    samples.sort()
    q = lambda f: samples[min(len(samples) - 1, int(f * (len(samples) - 1) + 0.5))]
    return {"median_us": statistics.median(samples), "p20_us": q(0.2), "p80_us": q(0.8), "count": len(samples)}


def torch_baselines(p, reps, compile_too):
    dtype = DTYPES[p.get("dtype", "bf16")]
    B, C = p["batch"], p["in_channels"]
    C_out, L = p.get("out_channels", C), p["length"]
    groups = p.get("groups", C)
    kh, kw = pair(p.get("kernel", 5))
    sh, sw = pair(p.get("stride", 1))
    dh, dw = pair(p.get("dilation", 1))
    pads = padding_of(p, kh, kw, dh, dw)
    g = torch.Generator(device="cuda").manual_seed(0)
    scores = torch.randn(B, C, L, L, device="cuda", dtype=dtype, generator=g)
    weight = torch.randn(C_out, C // groups, kh, kw, device="cuda", dtype=dtype, generator=g)
    bias = torch.randn(C_out, device="cuda", dtype=dtype, generator=g) if p.get("bias") else None
    args = ((sh, sw), pads, (dh, dw), groups)
    results = {}
    variants = [("eager", eager_mta)]
    if compile_too:
        # A fresh compilation per shape: one compiled function reused across shapes hits dynamo's
        # recompile limit and silently falls back to eager (seen in the first run with compile).
        torch._dynamo.reset()
        variants.append(("compile", torch.compile(eager_mta, dynamic=False)))
    for label, fn in variants:
        try:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            results[f"{label}_forward"] = time_cuda(lambda: fn(scores, weight, bias, *args), reps)
            s = scores.detach().requires_grad_(True)
            w = weight.detach().requires_grad_(True)
            grad = torch.randn_like(fn(scores, weight, bias, *args))

            def fwd_bwd():
                s.grad = w.grad = None
                fn(s, w, bias, *args).backward(grad)

            results[f"{label}_forward_backward"] = time_cuda(fwd_bwd, max(5, reps // 2))
            results[f"{label}_peak_bytes"] = torch.cuda.max_memory_allocated()
        except Exception as e:  # an OOM or a compile failure is a result too
            results[f"{label}_error"] = f"{type(e).__name__}: {e}"[:300]
        torch.cuda.empty_cache()
    return results


def run_attnjit(cli, problems, reps, verify, store=None):
    with tempfile.TemporaryDirectory() as tmp:
        shapes = os.path.join(tmp, "shapes.json")
        with open(shapes, "w") as f:
            json.dump({"problems": problems}, f)
        cmd = [cli, "--cache", store or os.path.join(tmp, "attnjit.db"), "bench", "--json", "--problem", shapes, "--reps", str(reps)]
        if not verify:
            cmd.append("--no-verify")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode not in (0, 1):
            sys.exit(f"attnjit bench failed ({proc.returncode}):\n{proc.stderr}")
        sys.stderr.write(proc.stderr)
        return json.loads(proc.stdout)


def fmt_us(x):
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def markdown(meta, rows):
    out = [f"# mta benchmark: {meta['date']}, {meta['gpu']}, commit {meta['commit']}", "",
           f"torch {meta['torch']}; times are medians of CUDA-event timings with L2 flushed before each "
           "repetition, in microseconds; floor = bytes moved / 3.0 TB/s; fwd+bwd for attnjit is the sum of "
           "its forward and backward medians. attnjit's kernels: " + meta["configs"] + ".", "",
           "| shape | attnjit fwd | floor | x floor | eager fwd | compile fwd | vs eager | attnjit fwd+bwd | floor | x floor | eager fwd+bwd | compile fwd+bwd | vs eager | verify |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        a, t = r["attnjit"], r["torch"]
        fwd, bwd = a["forward"], a["backward"]
        fb = fwd["median_us"] + bwd["median_us"]
        fb_floor = fwd["floor_us"] + bwd["floor_us"]
        get = lambda k: t[k]["median_us"] if k in t else float("nan")
        verify = a.get("verify", {}).get("summary", "gpu suite")
        out.append("| " + " | ".join([
            r["name"], fmt_us(fwd["median_us"]), fmt_us(fwd["floor_us"]), f"{fwd['x_floor']:.2f}",
            fmt_us(get("eager_forward")), fmt_us(get("compile_forward")), f"{get('eager_forward') / fwd['median_us']:.1f}x",
            fmt_us(fb), fmt_us(fb_floor), f"{fb / fb_floor:.2f}", fmt_us(get("eager_forward_backward")),
            fmt_us(get("compile_forward_backward")), f"{get('eager_forward_backward') / fb:.1f}x", verify]) + " |")
        for k, v in t.items():
            if k.endswith("_error"):
                out.append(f"|   {r['name']}: {k} | {v} |")
    out += ["", "Full figures (p20/p80, peak memory of the PyTorch runs, the problem JSON) are in mta_bench.json."]
    return "\n".join(out) + "\n"


def build_commit(attnjit):
    """The commit a build folder was made from: its COMMIT file (written beside the binaries when a build is
    carried to a GPU machine), as tests/run_gpu_suite.sh and bench/gpu_round.sh read it."""
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(attnjit)), "COMMIT")) as f:
            return f.read().strip()
    except OSError:
        return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attnjit", default="build/attnjit", help="the attnjit command")
    ap.add_argument("--shapes", default="bench/shapes/mta.json", help="problem file (attnjit's --problem format)")
    ap.add_argument("--out", help="results folder (default bench/results/<date>_<gpu>_<commit>)")
    ap.add_argument("--reps", type=int, default=30, help="timed repetitions")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile baseline")
    ap.add_argument("--cache", help="attnjit's store: one written by `attnjit tune` runs the tuned kernels "
                                    "(default: a fresh temporary store, the heuristic kernels)")
    ap.add_argument("--verify", action="store_true",
                    help="also verify every shape against the CPU reference (minutes at these sizes; the gpu "
                         "suite verifies the same templates over its grid)")
    args = ap.parse_args()
    problems = json.load(open(args.shapes))["problems"]
    gpu = torch.cuda.get_device_name(0)
    # ATTNJIT_COMMIT names the commit of a build made elsewhere (the working copy's git may lag it)
    commit = os.environ.get("ATTNJIT_COMMIT") or build_commit(args.attnjit) or \
        subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "gpu": gpu, "commit": commit,
            "torch": torch.__version__,
            "configs": ("the tuned winners in the store given by --cache (heuristic configs where it has none)"
                        if args.cache else "the heuristic configs (nothing tuned)")}
    out = args.out or os.path.join("bench", "results", f"{meta['date'][:10]}_{gpu.replace(' ', '-')}_{commit}")
    os.makedirs(out, exist_ok=True)
    ours = run_attnjit(args.attnjit, problems, args.reps, verify=args.verify, store=args.cache)
    rows = []
    for p, a in zip(problems, ours["results"]):
        print(f"timing PyTorch: {p['name']}", file=sys.stderr, flush=True)
        rows.append({"name": p["name"], "problem": p, "attnjit": a, "torch": torch_baselines(p, args.reps, not args.no_compile)})
        # written after every shape, so a run cut short still leaves what it measured
        with open(os.path.join(out, "mta_bench.json"), "w") as f:
            json.dump({"meta": meta, "attnjit_counters": {k: ours[k] for k in ("nvrtc_compiles", "store_hits")},
                       "rows": rows}, f, indent=1)
        text = markdown(meta, rows)
        with open(os.path.join(out, "mta_bench.md"), "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
