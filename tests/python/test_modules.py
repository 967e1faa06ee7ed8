"""attnjit.nn and attnjit.liger without a GPU: construction, attributes, initialization, parameter
names, Liger-Kernel's signatures and validation messages."""
import inspect
import math

import pytest

torch = pytest.importorskip("torch")

import attnjit.liger as liger
import attnjit.nn as ann

# Liger-Kernel's public signatures (src/liger_kernel/transformers/functional.py, multi_token_attention.py,
# fused_neighborhood_attention.py), as inspect prints them.
LIGER_SIGNATURES = {
    "liger_multi_token_attention": "(scores, weight, bias=None, stride: int = 1, padding: int = 0, dilation: int = 1, "
                                   "groups: int = 1, sparse: bool = False)",
    "liger_fused_neighborhood_attention": "(query, key, value, kernel_size: int = 7, dilation: int = 1, "
                                          "scale: float = None)",
    "LigerMultiTokenAttention": "(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, "
                                "padding: int = 0, dilation: int = 1, groups: int = 1, bias: bool = True, "
                                "sparse: bool = False)",
    "LigerFusedNeighborhoodAttention": "(hidden_size: int, num_heads: int, kernel_size: int = 7, dilation: int = 1, "
                                       "bias: bool = True, dropout: float = 0.0, scale: Optional[float] = None)",
    "LigerFusedNeighborhoodAttentionLayer": "(hidden_size: int, num_heads: int, kernel_size: int = 7, "
                                            "dilation: int = 1, bias: bool = True, dropout: float = 0.0, "
                                            "layer_norm_eps: float = 1e-05, scale: Optional[float] = None)",
}


@pytest.mark.parametrize("name", sorted(LIGER_SIGNATURES))
def test_liger_names_have_liger_signatures(name):
    assert name in liger.__all__
    assert str(inspect.signature(getattr(liger, name))) == LIGER_SIGNATURES[name]


def test_liger_forward_signatures():
    assert str(inspect.signature(liger.LigerMultiTokenAttention.forward)) == "(self, scores: torch.Tensor) -> torch.Tensor"
    for cls in (liger.LigerFusedNeighborhoodAttention, liger.LigerFusedNeighborhoodAttentionLayer):
        assert str(inspect.signature(cls.forward)) == (
            "(self, hidden_states: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor")


@pytest.mark.parametrize("cls", [ann.MultiTokenAttention, liger.LigerMultiTokenAttention])
def test_mta_module_attributes_and_initialization(cls):
    torch.manual_seed(0)
    m = cls(8, 4, (2, 3), stride=2, padding=1, dilation=(1, 2), groups=2, bias=True, sparse=True)
    assert (m.in_channels, m.out_channels, m.groups, m.sparse) == (8, 4, 2, True)
    assert (m.kernel_size, m.stride, m.padding, m.dilation) == ((2, 3), (2, 2), (1, 1), (1, 2))
    assert m.weight.shape == (4, 4, 2, 3) and m.bias.shape == (4,)
    assert [name for name, _ in m.named_parameters()] == ["weight", "bias"]
    torch.manual_seed(0)
    expected = torch.empty(4, 4, 2, 3)
    torch.nn.init.kaiming_uniform_(expected, a=math.sqrt(5))
    assert torch.equal(m.weight.detach(), expected)
    assert m.weight.abs().max() <= 1 / math.sqrt(4 * 2 * 3)  # kaiming_uniform_(a=sqrt(5)): bound 1/sqrt(fan_in)
    assert torch.equal(m.bias.detach(), torch.zeros(4))
    assert cls(4, 4, 3, bias=False).bias is None


def test_mta_module_takes_four_sided_padding_and_checks_groups():
    assert ann.MultiTokenAttention(4, 4, (6, 11), padding=(5, 0, 5, 5), groups=4).padding == (5, 0, 5, 5)
    with pytest.raises(ValueError, match=r"mta: groups=3 does not divide in_channels=4"):
        ann.MultiTokenAttention(4, 6, 3, groups=3)
    with pytest.raises(ValueError, match=r"mta: groups=4 does not divide out_channels=6"):
        ann.MultiTokenAttention(8, 6, 3, groups=4)


@pytest.mark.parametrize("cls", [ann.NeighborhoodAttention, liger.LigerFusedNeighborhoodAttention])
def test_na_module_attributes(cls):
    m = cls(64, 4, kernel_size=5, dilation=2, bias=False, dropout=0.1)
    assert (m.hidden_size, m.num_heads, m.head_dim, m.kernel_size, m.dilation) == (64, 4, 16, 5, 2)
    assert m.scale == 0.25 and m.dropout_p == 0.1 and isinstance(m.dropout, torch.nn.Dropout)
    assert cls(64, 4, scale=0.5).scale == 0.5 and cls(64, 4).dropout is None
    names = [name for name, _ in cls(64, 4).named_parameters()]
    assert names == ["q_proj.weight", "q_proj.bias", "k_proj.weight", "k_proj.bias", "v_proj.weight", "v_proj.bias",
                     "out_proj.weight", "out_proj.bias"]
    assert all(p.bias is None for p in (m.q_proj, m.k_proj, m.v_proj, m.out_proj))
    assert m.extra_repr() == ("hidden_size=64, num_heads=4, head_dim=16, kernel_size=5, dilation=2, scale=0.25, "
                              "dropout=0.1")


@pytest.mark.parametrize("cls", [ann.NeighborhoodAttention, liger.LigerFusedNeighborhoodAttention,
                                 ann.NeighborhoodAttentionLayer, liger.LigerFusedNeighborhoodAttentionLayer])
@pytest.mark.parametrize("args, message", [
    ((65, 4), "hidden_size (65) must be divisible by num_heads (4)"),
    ((64, 4, 0), "kernel_size (0) must be positive"),
    ((64, 4, 4), "kernel_size (4) must be odd"),
    ((64, 4, 5, 0), "dilation (0) must be positive"),
])
def test_na_modules_raise_liger_messages(cls, args, message):
    with pytest.raises(ValueError) as raised:
        cls(*args)
    assert str(raised.value) == message


def test_na_attention_mask_is_not_supported_as_in_liger():
    hidden = torch.randn(1, 8, 64)
    with pytest.raises(NotImplementedError) as raised:
        liger.LigerFusedNeighborhoodAttention(64, 4)(hidden, torch.ones(1, 8))
    assert str(raised.value) == "Attention mask is not yet supported in LigerFusedNeighborhoodAttention"
    with pytest.raises(NotImplementedError, match="in LigerFusedNeighborhoodAttention$"):
        liger.LigerFusedNeighborhoodAttentionLayer(64, 4)(hidden, torch.ones(1, 8))
    with pytest.raises(NotImplementedError, match="in NeighborhoodAttention$"):
        ann.NeighborhoodAttentionLayer(64, 4)(hidden, torch.ones(1, 8))


def test_na_layer_structure_and_window():
    layer = liger.LigerFusedNeighborhoodAttentionLayer(64, 4, dropout=0.2, layer_norm_eps=1e-6)
    assert isinstance(layer.attention, liger.LigerFusedNeighborhoodAttention)
    assert isinstance(layer.layer_norm, torch.nn.LayerNorm) and layer.layer_norm.eps == 1e-6
    assert isinstance(layer.dropout, torch.nn.Dropout)
    assert [n for n, _ in layer.named_parameters()][-2:] == ["layer_norm.weight", "layer_norm.bias"]
    causal = ann.NeighborhoodAttentionLayer(64, 4, window="causal")
    assert causal.attention.window == "causal" and "window=causal" in causal.attention.extra_repr()


def test_state_dicts_load_across_attnjit_and_liger_names():
    a = ann.NeighborhoodAttentionLayer(32, 2)
    b = liger.LigerFusedNeighborhoodAttentionLayer(32, 2)
    b.load_state_dict(a.state_dict())
    c = liger.LigerMultiTokenAttention(4, 4, 3, groups=4)
    c.load_state_dict(ann.MultiTokenAttention(4, 4, 3, groups=4).state_dict())
