"""Shared by the GPU tests: inputs with NaN planted where the ops must not read, and the comparison of
an op's forward and backward against the float64 reference composition."""
import torch

import torch_reference as R

MTA_DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def plant_nan_in_future(x):
    """NaN above the diagonal of the last two axes (the part the op never reads)."""
    rows, cols = x.shape[-2:]
    with torch.no_grad():
        x.masked_fill_(R.causal_future(rows, cols).to(x.device), float("nan"))
    return x


def leaf64(x):
    return None if x is None else x.detach().double().cpu().requires_grad_()


def check_mta(out, grads, inputs, params, grad_out):
    """out and grads = (scores.grad, weight.grad, bias.grad or None) from attnjit, against the reference
    on the same (rounded) inputs. params: stride, (top, bottom, left, right), dilation, groups, sparse."""
    scores, weight, bias = (leaf64(x) for x in inputs)
    ref = R.mta(scores, weight, bias, *params)
    ref.backward(grad_out.double().cpu())
    R.assert_close("out", out, ref)
    R.assert_close("grad_scores", grads[0], scores.grad)
    R.assert_close("grad_weight", grads[1], weight.grad)
    if bias is not None:
        R.assert_close("grad_bias", grads[2], bias.grad)


def check_na(out, grads, inputs, kernel_size, dilation, scale, window, grad_out):
    query, key, value = (leaf64(x) for x in inputs)
    ref = R.na(query, key, value, kernel_size, dilation, scale, window)
    ref.backward(grad_out.double().cpu())
    R.assert_close("out", out, ref)
    for name, got, want in zip(("grad_query", "grad_key", "grad_value"), grads, (query.grad, key.grad, value.grad)):
        R.assert_close(name, got, want)
