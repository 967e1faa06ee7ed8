"""attnjit.liger on the GPU: its functions give attnjit's results, and its modules train."""
import pytest

torch = pytest.importorskip("torch")

import attnjit.liger as liger
from attnjit.functional import multi_token_attention, neighborhood_attention

pytestmark = pytest.mark.gpu


def test_liger_multi_token_attention_is_attnjits():
    scores = torch.randn(2, 4, 32, 32, device="cuda")
    weight = torch.randn(4, 2, 3, 3, device="cuda")
    bias = torch.randn(4, device="cuda")
    for sparse in (False, True):
        expected = multi_token_attention(scores, weight, bias, 1, 1, 1, 2, sparse)
        assert torch.equal(liger.liger_multi_token_attention(scores, weight, bias, 1, 1, 1, 2, sparse), expected)
    assert torch.equal(liger.liger_multi_token_attention(scores, weight, groups=2),
                       multi_token_attention(scores, weight, groups=2))


@pytest.mark.usefixtures("na_library")
def test_liger_fused_neighborhood_attention_is_attnjits_clipped_window():
    q, k, v = (torch.randn(2, 2, 30, 16, device="cuda") for _ in range(3))
    assert torch.equal(liger.liger_fused_neighborhood_attention(q, k, v),
                       neighborhood_attention(q, k, v, 7, 1, None, "clipped"))
    assert torch.equal(liger.liger_fused_neighborhood_attention(q, k, v, 5, 2, 0.3),
                       neighborhood_attention(q, k, v, kernel_size=5, dilation=2, scale=0.3))


def test_liger_mta_module_trains():
    module = liger.LigerMultiTokenAttention(4, 4, 3, padding=1, groups=4).cuda()
    scores = torch.randn(1, 4, 24, 24, device="cuda")
    module(scores).square().sum().backward()
    assert module.weight.grad is not None and module.bias.grad is not None


@pytest.mark.usefixtures("na_library")
def test_liger_na_layer_trains():
    layer = liger.LigerFusedNeighborhoodAttentionLayer(64, 4).cuda()
    hidden = torch.randn(2, 20, 64, device="cuda", requires_grad=True)
    out = layer(hidden)
    assert out.shape == hidden.shape
    out.square().sum().backward()
    assert all(p.grad is not None for p in layer.parameters()) and hidden.grad is not None
