#!/usr/bin/env python3
"""One Multi-Token Attention training step in bf16 on a GPU: attnjit.nn.MultiTokenAttention against the
same layer composed in eager PyTorch (masked_fill(-1e9), softmax, conv2d, mask), forward and backward,
with their time and peak memory side by side. Run it with the package installed (README, "Using it from
PyTorch"), or from the checkout with PYTHONPATH=python after building the library:

    python3 examples/mta_training_step.py                 # B=2, C=16, L=2048, 5x5 depthwise, symmetric padding
    python3 examples/mta_training_step.py --paper         # the paper's 6x11 depthwise, query axis padded causally
    python3 examples/mta_training_step.py --length 4096 --batch 1 --sparse

Time: CUDA events around each step, after warm-up steps, median (and spread) of --reps steps. Memory:
torch.cuda.max_memory_allocated during one step, above what the inputs already hold. The two outputs
and score gradients are compared (relative error) so that the table compares equal work.

Without PyTorch's CUDA the script says so and exits with status 2 (nothing was measured).
"""
import argparse
import statistics
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("mta_training_step: PyTorch is not installed; nothing to run", file=sys.stderr)
    sys.exit(2)


def eager_layer(scores, weight, bias, padding, groups, sparse):
    """The layer as eager PyTorch writes it (SPEC.md section 1); softmax only (PyTorch has no sparsemax)."""
    length = scores.shape[-1]
    future = torch.ones(length, length, dtype=torch.bool, device=scores.device).triu(1)
    probs = torch.softmax(scores.masked_fill(future, -1e9), dim=-1)
    top, bottom, left, right = padding
    out = F.conv2d(F.pad(probs, (left, right, top, bottom)), weight, bias, groups=groups)
    return out.masked_fill(torch.ones(out.shape[-2:], dtype=torch.bool, device=out.device).triu(1), 0.0)


def timed_steps(step, warmup, reps):
    for _ in range(warmup):
        step()
    samples = []
    for _ in range(reps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        stop.record()
        stop.synchronize()
        samples.append(start.elapsed_time(stop))
    samples.sort()
    return statistics.median(samples), samples[0], samples[-1]


def peak_extra_mib(step):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    step()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - before) / 2**20


def relative_error(a, b):
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--channels", type=int, default=16, help="heads; the filter is depthwise (groups = channels)")
    parser.add_argument("--length", type=int, default=2048)
    parser.add_argument("--paper", action="store_true", help="6x11 kernel, padding (5, 0, 5, 5): causal query axis")
    parser.add_argument("--sparse", action="store_true", help="sparsemax (attnjit only: eager PyTorch has none)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--reps", type=int, default=10)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("mta_training_step: no CUDA device is available to PyTorch; this example runs on a GPU "
              "(nothing was measured)", file=sys.stderr)
        return 2

    import attnjit

    kernel, padding = ((6, 11), (5, 0, 5, 5)) if args.paper else ((5, 5), (2, 2, 2, 2))
    c, dtype = args.channels, torch.bfloat16
    torch.manual_seed(0)
    layer = attnjit.nn.MultiTokenAttention(c, c, kernel, padding=padding, groups=c, sparse=args.sparse)
    layer = layer.to("cuda", dtype)
    scores = torch.randn(args.batch, c, args.length, args.length, device="cuda", dtype=dtype, requires_grad=True)
    grad_out = torch.randn(args.batch, c, args.length, args.length, device="cuda", dtype=dtype)

    def attnjit_step():
        scores.grad = None
        layer.zero_grad(set_to_none=True)
        layer(scores).backward(grad_out)

    def eager_step():
        scores.grad = None
        layer.zero_grad(set_to_none=True)
        eager_layer(scores, layer.weight, layer.bias, padding, c, False).backward(grad_out)

    attnjit_step()  # compiles or loads the kernels once
    got_out, got_grad = layer(scores).detach(), scores.grad.clone()
    rows = [("attnjit", attnjit_step)]
    note = ""
    if not args.sparse:
        eager_step()
        note = "relative difference to eager: out %.1e, grad_scores %.1e" % (
            relative_error(got_out, eager_layer(scores, layer.weight, layer.bias, padding, c, False).detach()),
            relative_error(got_grad, scores.grad))
        rows.insert(0, ("eager PyTorch", eager_step))

    print("MTA training step: bf16, B=%d, C=%d, L=%d, %dx%d depthwise, padding %s, %s, on %s" % (
        args.batch, c, args.length, kernel[0], kernel[1], padding, "sparsemax" if args.sparse else "softmax",
        torch.cuda.get_device_name()))
    print("%-14s %12s %18s %16s" % ("", "fwd+bwd ms", "(min - max)", "peak extra MiB"))
    results = {}
    for name, step in rows:
        median, low, high = timed_steps(step, args.warmup, args.reps)
        results[name] = median
        print("%-14s %12.3f %18s %16.0f" % (name, median, "(%.3f - %.3f)" % (low, high), peak_extra_mib(step)))
    if "eager PyTorch" in results:
        print("speed-up %.1fx; %s" % (results["eager PyTorch"] / results["attnjit"], note))
    return 0


if __name__ == "__main__":
    sys.exit(main())
