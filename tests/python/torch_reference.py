"""Float64 PyTorch compositions of the ops (SPEC.md sections 1 and 3) and SPEC.md's tolerances, for
the tests. Built from the definitions, not from attnjit: masked_fill, softmax or sparsemax, conv2d,
mask; a dense masked softmax over the window predicate for neighborhood attention."""
import torch
import torch.nn.functional as F


def sparsemax(z, dim=-1):
    """Martins & Astudillo 2016: max(z - tau, 0) with tau making each row sum to 1 (sort-based; autograd
    through it gives sparsemax's Jacobian)."""
    z_sorted, _ = torch.sort(z, dim=dim, descending=True)
    cumsum = z_sorted.cumsum(dim)
    k = torch.arange(1, z.shape[dim] + 1, dtype=z.dtype, device=z.device)
    shape = [1] * z.dim()
    shape[dim] = -1
    k = k.view(shape)
    support = (1 + k * z_sorted) > cumsum
    k_max = support.sum(dim=dim, keepdim=True)
    tau = (cumsum.gather(dim, k_max - 1) - 1) / k_max.to(z.dtype)
    return torch.clamp(z - tau, min=0)


def causal_future(rows, cols):
    """True above the diagonal (column > row)."""
    return torch.ones(rows, cols, dtype=torch.bool).triu(1)


def mta(scores, weight, bias, stride, padding, dilation, groups, sparse):
    """padding is (top, bottom, left, right); stride and dilation pairs. Inputs float64 on the CPU."""
    length = scores.shape[-1]
    z = scores.masked_fill(causal_future(length, length), -1e9)
    p = sparsemax(z) if sparse else torch.softmax(z, dim=-1)
    top, bottom, left, right = padding
    y = F.conv2d(F.pad(p, (left, right, top, bottom)), weight, bias, stride, 0, dilation, groups)
    return y.masked_fill(causal_future(*y.shape[-2:]), 0.0)


def na_allowed(length, kernel_size, dilation, window):
    """(L, L) bool: query i may attend key j (SPEC.md section 3 and attnjit.hpp's windows)."""
    i = torch.arange(length).view(-1, 1)
    j = torch.arange(length).view(1, -1)
    half, d, k = kernel_size // 2, dilation, kernel_size
    if window == "clipped":
        return ((i - j).abs() <= half * d) & ((j - i) % d == 0)
    if window == "shifted":
        g = i % d
        group_length = (length - g + d - 1) // d
        start = torch.where(group_length <= k, torch.zeros_like(g),
                            torch.minimum(torch.clamp(i // d - half, min=0), group_length - k))
        end = torch.minimum(group_length, start + k)
        return (j % d == g) & (j // d >= start) & (j // d < end)
    if window == "causal":
        back = i - j
        return (back >= 0) & (back % d == 0) & (back // d <= k - 1)
    raise ValueError(window)


def na(query, key, value, kernel_size, dilation, scale, window):
    """Dense masked softmax attention over the window; inputs float64 (B, H, L, D) on the CPU."""
    scale = query.shape[-1] ** -0.5 if scale is None else scale
    allowed = na_allowed(query.shape[-2], kernel_size, dilation, window)
    logits = (scale * query @ key.transpose(-1, -2)).masked_fill(~allowed, float("-inf"))
    return torch.softmax(logits, dim=-1) @ value


def assert_close(what, out, ref):
    """SPEC.md's tolerances: fp32 max|out - ref| <= 1e-4 + 1e-4|ref|; fp16 and bf16 relative error
    ||out - ref|| / ||ref|| <= 1e-2; no NaN anywhere."""
    got = out.detach().double().cpu()
    ref = ref.detach().double().cpu()
    assert got.shape == ref.shape, "%s: shape %s, reference %s" % (what, tuple(got.shape), tuple(ref.shape))
    assert torch.isfinite(got).all(), "%s: %d non-finite values" % (what, int((~torch.isfinite(got)).sum()))
    if out.dtype == torch.float32:
        excess = ((got - ref).abs() / (1e-4 + 1e-4 * ref.abs())).max().item() if got.numel() else 0.0
        assert excess <= 1.0, "%s: error %.3g of the fp32 tolerance (max |diff| %.3g)" % (
            what, excess, (got - ref).abs().max().item())
    else:
        norm = ref.norm().item()
        error = (got - ref).norm().item() / (norm if norm > 0 else 1.0)
        assert error <= 1e-2, "%s: relative error %.3g > 1e-2 in %s" % (what, error, out.dtype)
