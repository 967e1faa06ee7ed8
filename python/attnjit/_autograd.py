"""torch.autograd.Functions of the ops, on every PyTorch version. attnjit.functional uses them
directly where torch.library.custom_op is missing (PyTorch < 2.4), and through the custom ops
(which torch.compile can put in a graph) otherwise."""
import torch

from . import _mta, _na


class MultiTokenAttentionFunction(torch.autograd.Function):
    """apply(scores, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, sparse=False): the
    arguments of attnjit.functional.multi_token_attention, positionally."""

    @staticmethod
    def forward(ctx, scores, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, sparse=False):
        p = _mta.problem(scores, weight, bias, stride, padding, dilation, groups, sparse)
        scores, weight = scores.contiguous(), weight.contiguous()
        out, row_stats = _mta.forward(p, scores, weight, bias)
        ctx.save_for_backward(scores, weight, row_stats)
        ctx.problem = p
        return out

    @staticmethod
    def backward(ctx, grad_out):
        scores, weight, row_stats = ctx.saved_tensors
        grad_scores, grad_weight, grad_bias = _mta.backward(ctx.problem, scores, weight, row_stats, grad_out)
        return grad_scores, grad_weight, grad_bias, None, None, None, None, None


class NeighborhoodAttentionFunction(torch.autograd.Function):
    """apply(query, key, value, kernel_size=7, dilation=1, scale=None, window="clipped")."""

    @staticmethod
    def forward(ctx, query, key, value, kernel_size=7, dilation=1, scale=None, window="clipped"):
        p = _na.problem(query, key, value, kernel_size, dilation, scale, window)
        query, key, value = query.contiguous(), key.contiguous(), value.contiguous()
        out, logsumexp = _na.forward(p, query, key, value)
        ctx.save_for_backward(query, key, value, out, logsumexp)
        ctx.problem = p
        return out

    @staticmethod
    def backward(ctx, grad_out):
        query, key, value, out, logsumexp = ctx.saved_tensors
        grads = _na.backward(ctx.problem, query, key, value, out, logsumexp, grad_out)
        return grads + (None, None, None, None)
