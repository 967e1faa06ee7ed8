"""attnjit.functional.neighborhood_attention and the attnjit.nn modules on the GPU, forward and backward,
against a dense masked softmax attention in float64, over a covering set of every parameter."""
import pytest

torch = pytest.importorskip("torch")

import attnjit
from attnjit.functional import NeighborhoodAttentionFunction, neighborhood_attention

from gpu_cases import MTA_DTYPES, check_na

pytestmark = [pytest.mark.gpu, pytest.mark.usefixtures("na_library")]

# (label, dtype, B, H, L, D, kernel_size, dilation, scale, window): every dtype and window, kernel 1, a
# kernel past L, dilation 1-3, a given scale, head dims 16-128, odd L.
CASES = [
    ("clipped k7", "f32", 2, 3, 37, 16, 7, 1, None, "clipped"),
    ("shifted k5 d2", "bf16", 1, 2, 64, 64, 5, 2, 0.3, "shifted"),
    ("causal k3 d3", "f16", 2, 2, 50, 32, 3, 3, None, "causal"),
    ("self only", "f32", 1, 1, 9, 8, 1, 1, None, "clipped"),
    ("window past L", "bf16", 1, 2, 40, 128, 63, 1, None, "clipped"),
    ("shifted, short groups", "f32", 1, 1, 20, 16, 9, 3, 0.5, "shifted"),
    ("causal k7", "f16", 1, 4, 33, 64, 7, 1, None, "causal"),
    ("clipped dilated", "bf16", 2, 1, 45, 32, 5, 2, None, "clipped"),
]


def make_qkv(dtype, shape, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=generator).to("cuda", dtype).requires_grad_() for _ in range(3)]


def run(fn, inputs, **kwargs):
    out = fn(*inputs, **kwargs)
    grad_out = torch.randn_like(out)
    out.backward(grad_out)
    return out, [x.grad for x in inputs], grad_out


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_functional_matches_the_reference(case):
    _, dtype, batch, heads, length, dim, kernel_size, dilation, scale, window = case
    inputs = make_qkv(MTA_DTYPES[dtype], (batch, heads, length, dim))
    out, grads, grad_out = run(neighborhood_attention, inputs, kernel_size=kernel_size, dilation=dilation,
                               scale=scale, window=window)
    check_na(out, grads, inputs, kernel_size, dilation, scale, window, grad_out)


def test_defaults_are_kernel_7_dilation_1_clipped():
    inputs = make_qkv(torch.float32, (1, 2, 20, 16))
    out, grads, grad_out = run(neighborhood_attention, inputs)
    check_na(out, grads, inputs, 7, 1, None, "clipped", grad_out)


def test_the_autograd_function_and_non_contiguous_inputs():
    # (B, L, H, D) transposed to (B, H, L, D), as the modules make them: not contiguous.
    raw = [torch.randn(2, 24, 3, 16, device="cuda") for _ in range(3)]
    inputs = [x.transpose(1, 2).requires_grad_() for x in raw]
    assert not inputs[0].is_contiguous()
    out, grads, grad_out = run(lambda *x: NeighborhoodAttentionFunction.apply(*x, 5, 1, None, "clipped"), inputs)
    check_na(out, grads, inputs, 5, 1, None, "clipped", grad_out)


def dense_layer_reference(module, hidden, window="clipped"):
    """The module's computation in float64 with the reference attention."""
    import torch_reference as R
    m = {name: p.detach().double().cpu() for name, p in module.named_parameters()}
    x = hidden.detach().double().cpu()
    attention = module.attention if hasattr(module, "attention") else module
    prefix = "attention." if hasattr(module, "attention") else ""
    if hasattr(module, "layer_norm"):
        x_in = torch.nn.functional.layer_norm(x, (x.shape[-1],), m["layer_norm.weight"], m["layer_norm.bias"],
                                              module.layer_norm.eps)
    else:
        x_in = x
    b, length, hidden_size = x.shape

    def proj(name, t):
        return torch.nn.functional.linear(t, m[prefix + name + ".weight"], m.get(prefix + name + ".bias"))

    def heads(t):
        return t.view(b, length, attention.num_heads, attention.head_dim).transpose(1, 2)

    attn = R.na(heads(proj("q_proj", x_in)), heads(proj("k_proj", x_in)), heads(proj("v_proj", x_in)),
                attention.kernel_size, attention.dilation, attention.scale, window)
    out = proj("out_proj", attn.transpose(1, 2).reshape(b, length, hidden_size))
    return x + out if hasattr(module, "layer_norm") else out


@pytest.mark.parametrize("cls, kwargs", [
    (attnjit.nn.NeighborhoodAttention, dict(kernel_size=5, dilation=2, scale=0.2)),
    (attnjit.nn.NeighborhoodAttentionLayer, dict(kernel_size=7, window="causal", layer_norm_eps=1e-6)),
    (attnjit.nn.NeighborhoodAttentionLayer, dict(kernel_size=3, bias=False, window="shifted")),
])
def test_modules_match_the_reference(cls, kwargs):
    torch.manual_seed(2)
    module = cls(64, 4, **kwargs).cuda()
    hidden = torch.randn(2, 30, 64, device="cuda", requires_grad=True)
    out = module(hidden)
    window = kwargs.get("window", "clipped")
    import torch_reference as R
    R.assert_close("module out", out, dense_layer_reference(module, hidden, window))
    out.sum().backward()
    assert torch.isfinite(hidden.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters())


def test_dropout_runs_in_training_and_not_in_eval():
    module = attnjit.nn.NeighborhoodAttentionLayer(32, 2, dropout=0.5).cuda()
    hidden = torch.randn(1, 16, 32, device="cuda")
    module.eval()
    assert torch.equal(module(hidden), module(hidden))
    module.train()
    assert not torch.equal(module(hidden), module(hidden))
