"""attnjit.functional.multi_token_attention and attnjit.nn.MultiTokenAttention on the GPU, forward and
backward, against the float64 composition, over a covering set of every parameter."""
import pytest

torch = pytest.importorskip("torch")

import attnjit
from attnjit.functional import MultiTokenAttentionFunction, multi_token_attention

from gpu_cases import MTA_DTYPES, check_mta, plant_nan_in_future

pytestmark = pytest.mark.gpu

# (label, dtype, B, C_in, C_out, L, kernel, stride, padding, dilation, groups, bias, sparse); every value of
# every parameter appears at least once: dtypes, softmax/sparsemax, stride int/pair/uneven, padding
# int/pair/four sides/causal, dilation int/pair, groups 1/2/depthwise, bias or not, odd and even L.
CASES = [
    ("depthwise 3x3", "f32", 2, 4, 4, 37, 3, 1, 1, 1, 4, True, False),
    ("paper 6x11 causal", "bf16", 1, 4, 4, 64, (6, 11), 1, (5, 0, 5, 5), 1, 4, False, False),
    ("mixing 2x3 stride 2", "f16", 2, 3, 5, 40, (2, 3), 2, (1, 2), 1, 1, True, True),
    ("groups 2 dilated", "f32", 1, 4, 6, 33, 3, (1, 2), 2, 2, 2, False, True),
    ("head mixing 1x1", "bf16", 2, 4, 4, 48, 1, 1, 0, 1, 2, True, False),
    ("uneven stride 3", "f32", 1, 2, 2, 50, 5, 3, 0, (2, 1), 1, True, False),
    ("sparse depthwise 5x5", "f16", 1, 2, 2, 64, 5, 1, 2, 1, 2, False, True),
    ("four sides stride 2", "bf16", 2, 2, 3, 31, 3, (2, 1), (0, 1, 2, 0), 1, 1, True, True),
    ("L=1", "f32", 1, 1, 1, 1, 1, 1, 0, 1, 1, True, False),
]


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def sides(padding):
    if isinstance(padding, int):
        return (padding,) * 4
    return (padding[0], padding[0], padding[1], padding[1]) if len(padding) == 2 else tuple(padding)


def make_inputs(dtype, batch, c_in, c_out, length, kernel, groups, bias, device="cuda", seed=0):
    generator = torch.Generator().manual_seed(seed)
    kh, kw = pair(kernel)
    scores = torch.randn(batch, c_in, length, length, generator=generator).to(device, dtype)
    plant_nan_in_future(scores)
    weight = (0.5 * torch.randn(c_out, c_in // groups, kh, kw, generator=generator)).to(device, dtype)
    b = torch.randn(c_out, generator=generator).to(device, dtype) if bias else None
    return [x if x is None else x.requires_grad_() for x in (scores, weight, b)]


def run(fn, inputs, grad_out=None, **kwargs):
    out = fn(*inputs, **kwargs)
    if grad_out is None:
        grad_out = plant_nan_in_future(torch.randn_like(out))
    out.backward(grad_out)
    return out, [None if x is None else x.grad for x in inputs], grad_out


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_functional_matches_the_reference(case):
    _, dtype, batch, c_in, c_out, length, kernel, stride, padding, dilation, groups, bias, sparse = case
    inputs = make_inputs(MTA_DTYPES[dtype], batch, c_in, c_out, length, kernel, groups, bias)
    out, grads, grad_out = run(multi_token_attention, inputs, stride=stride, padding=padding, dilation=dilation,
                               groups=groups, sparse=sparse)
    kh, kw = pair(kernel)
    top, bottom, left, right = sides(padding)
    (sh, sw), (dh, dw) = pair(stride), pair(dilation)
    assert out.shape == (batch, c_out, (length + top + bottom - dh * (kh - 1) - 1) // sh + 1,
                         (length + left + right - dw * (kw - 1) - 1) // sw + 1)
    check_mta(out, grads, inputs, (pair(stride), sides(padding), pair(dilation), groups, sparse), grad_out)


def test_the_autograd_function_matches_the_reference():
    inputs = make_inputs(torch.float32, 2, 4, 4, 24, 3, 4, True)
    out, grads, grad_out = run(lambda *x: MultiTokenAttentionFunction.apply(*x, 1, 1, 1, 4, True), inputs)
    check_mta(out, grads, inputs, ((1, 1), (1, 1, 1, 1), (1, 1), 4, True), grad_out)


def test_non_contiguous_and_misaligned_inputs():
    scores, weight, bias = make_inputs(torch.bfloat16, 1, 2, 2, 40, 3, 2, True)
    params = dict(padding=1, groups=2)
    # A transposed view (non-contiguous) of the lower-triangular data, and a contiguous view that starts
    # one element into its buffer (not 16-byte aligned).
    base = torch.randn(1, 2, 40, 40, device="cuda", dtype=torch.bfloat16).transpose(-1, -2).requires_grad_()
    shifted = torch.empty(base.numel() + 1, device="cuda", dtype=torch.bfloat16)[1:].view(base.shape)
    shifted.copy_(base.detach())
    assert not base.is_contiguous() and shifted.data_ptr() % 16 != 0
    for view in (base, shifted.requires_grad_()):
        out, grads, grad_out = run(multi_token_attention, [view, weight, bias], **params)
        check_mta(out, grads, [view, weight, bias], ((1, 1), (1, 1, 1, 1), (1, 1), 2, False), grad_out)
        weight.grad = bias.grad = None


def test_validation_on_cuda_tensors_before_any_launch():
    scores, weight, _ = make_inputs(torch.float16, 1, 4, 4, 16, 3, 1, False)
    with pytest.raises(ValueError, match=r"mta: groups=3 does not divide in_channels=4"):
        multi_token_attention(scores, weight, groups=3)
    with pytest.raises(TypeError, match=r"weight has dtype torch.float32 but scores has torch.float16"):
        multi_token_attention(scores, weight.float())
    with pytest.raises(ValueError, match=r"mta: needs CUDA tensors, but weight is on cpu"):
        multi_token_attention(scores, weight.detach().cpu())


@pytest.mark.parametrize("scores_dtype", [torch.float32, torch.bfloat16])
def test_module_forward_and_backward(scores_dtype):
    torch.manual_seed(1)
    module = attnjit.nn.MultiTokenAttention(4, 4, (3, 5), stride=1, padding=(2, 0, 2, 2), dilation=1, groups=4,
                                            bias=True, sparse=False).cuda()
    with torch.no_grad():
        module.bias.normal_()
    scores = plant_nan_in_future(torch.randn(2, 4, 32, 32, device="cuda", dtype=scores_dtype)).requires_grad_()
    out = module(scores)
    assert out.dtype == scores_dtype
    grad_out = torch.randn_like(out)
    out.backward(grad_out)
    assert module.weight.grad.dtype == torch.float32  # float32 masters get their gradient through the cast
    weight = module.weight.detach().to(scores_dtype).requires_grad_()
    bias = module.bias.detach().to(scores_dtype).requires_grad_()
    grads = [scores.grad, module.weight.grad.to(scores_dtype), module.bias.grad.to(scores_dtype)]
    check_mta(out, grads, [scores, weight, bias], ((1, 1), (2, 0, 2, 2), (1, 1), 4, False), grad_out)


def test_sparse_module_without_bias():
    module = attnjit.nn.MultiTokenAttention(2, 4, 3, stride=2, padding=1, dilation=2, groups=1, bias=False,
                                            sparse=True).cuda()
    scores = torch.randn(1, 2, 30, 30, device="cuda", requires_grad=True)
    out = module(scores)
    grad_out = torch.randn_like(out)
    out.backward(grad_out)
    weight = module.weight.detach().requires_grad_()
    check_mta(out, [scores.grad, module.weight.grad, None], [scores, weight, None],
              ((2, 2), (1, 1, 1, 1), (2, 2), 1, True), grad_out)
