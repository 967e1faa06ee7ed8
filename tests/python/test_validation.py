"""Every argument is checked before anything is launched, on any machine: TypeError for types and
dtypes, ValueError for values and shapes (the library's message), ValueError for tensors off CUDA.
These run without a GPU, on CPU tensors."""
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F

from attnjit import _mta, _na
from attnjit.functional import multi_token_attention, neighborhood_attention


def mta_inputs(batch=2, channels=4, length=16, out_channels=4, groups=1, kernel=(3, 3), dtype=torch.float32):
    scores = torch.randn(batch, channels, length, length, dtype=dtype)
    weight = torch.randn(out_channels, channels // groups, *kernel, dtype=dtype)
    return scores, weight


# ---- mta ---------------------------------------------------------------------------------------

def test_mta_on_cpu_tensors_says_it_needs_cuda():
    scores, weight = mta_inputs()
    with pytest.raises(ValueError, match=r"mta: needs CUDA tensors, but scores is on cpu"):
        multi_token_attention(scores, weight, padding=1)


@pytest.mark.parametrize("kwargs, message", [
    (dict(groups=3), r"mta: groups=3 does not divide in_channels=4"),
    (dict(stride=0), r"mta: stride=0x0: both must be at least 1"),
    (dict(dilation=(1, 0)), r"mta: dilation=1x0: both must be at least 1"),
    (dict(padding=(0, -1, 0, 0)), r"mta: padding \(top 0, bottom -1, left 0, right 0\): none may be negative"),
    (dict(groups=0), r"mta: groups=0 must be at least 1"),
])
def test_mta_bad_values_raise_the_library_message(kwargs, message):
    scores, weight = mta_inputs()
    with pytest.raises(ValueError, match=message):
        multi_token_attention(scores, weight, **kwargs)


def test_mta_an_empty_output_is_refused_with_the_sizes():
    scores, weight = mta_inputs(length=4, kernel=(7, 7))
    with pytest.raises(ValueError, match=r"mta: the output is empty \(out_h=-2, out_w=-2\)|mta: the output is empty"):
        multi_token_attention(scores, weight)


@pytest.mark.parametrize("make, message", [
    (lambda s, w: (s[0], w), r"scores has shape \(4, 16, 16\); expected \(batch, in_channels, L, L\)"),
    (lambda s, w: (s[..., :8], w), r"scores has shape \(2, 4, 16, 8\)"),
    (lambda s, w: (s, w[0]), r"weight has shape \(4, 3, 3\); expected \(out_channels"),
    (lambda s, w: (s, w[:, :2]), r"weight has shape \(4, 2, 3, 3\); with in_channels=4 and groups=1 it must be \(4, 4, 3, 3\)"),
])
def test_mta_shape_mismatches_name_the_shapes(make, message):
    scores, weight = make(*mta_inputs())
    with pytest.raises(ValueError, match=message):
        multi_token_attention(scores, weight)


def test_mta_bias_shape_must_be_out_channels():
    scores, weight = mta_inputs()
    with pytest.raises(ValueError, match=r"bias has shape \(3,\); expected \(4,\)"):
        multi_token_attention(scores, weight, torch.zeros(3))


def test_mta_types_and_dtypes():
    scores, weight = mta_inputs()
    with pytest.raises(TypeError, match=r"mta: scores must be a torch.Tensor, got list"):
        multi_token_attention([[1.0]], weight)
    with pytest.raises(TypeError, match=r"mta: bias must be a torch.Tensor, got float"):
        multi_token_attention(scores, weight, 1.0)
    with pytest.raises(TypeError, match=r"scores has dtype torch.float64; attnjit computes in torch.float32"):
        multi_token_attention(scores.double(), weight.double())
    with pytest.raises(TypeError, match=r"weight has dtype torch.float16 but scores has torch.float32"):
        multi_token_attention(scores, weight.half())
    with pytest.raises(TypeError, match=r"bias has dtype torch.bfloat16 but scores has torch.float32"):
        multi_token_attention(scores, weight, torch.zeros(4, dtype=torch.bfloat16))
    with pytest.raises(TypeError, match=r"stride must be an int or a pair"):
        multi_token_attention(scores, weight, stride=(1, 2, 3))
    with pytest.raises(TypeError, match=r"padding must be an int, a pair \(rows, columns\) or four sides"):
        multi_token_attention(scores, weight, padding=(1, 2, 3))
    with pytest.raises(TypeError, match=r"groups must be an int"):
        multi_token_attention(scores, weight, groups=1.0)
    with pytest.raises(TypeError, match=r"sparse must be a bool"):
        multi_token_attention(scores, weight, sparse="yes")


@pytest.mark.parametrize("padding, sides", [
    (2, (2, 2, 2, 2)),
    ((1, 3), (1, 1, 3, 3)),
    ([5, 0, 2, 3], (5, 0, 2, 3)),
])
def test_mta_padding_forms_map_to_the_four_sides(padding, sides):
    scores, weight = mta_inputs(length=13, kernel=(6, 4))
    p = _mta.problem(scores, weight, None, (2, 1), padding, (1, 2), 1, False)
    assert (p.pad_top, p.pad_bottom, p.pad_left, p.pad_right) == sides
    assert (p.stride_h, p.stride_w, p.dilation_h, p.dilation_w) == (2, 1, 1, 2)
    top, bottom, left, right = sides
    expected = F.conv2d(F.pad(scores, (left, right, top, bottom)), weight, None, (2, 1), 0, (1, 2)).shape
    assert _mta.out_shape(p) == tuple(expected)


def test_mta_problem_fields_follow_the_tensors():
    scores, weight = mta_inputs(batch=3, channels=6, out_channels=9, groups=3, length=20, kernel=(2, 5),
                                dtype=torch.bfloat16)
    p = _mta.problem(scores, weight, torch.zeros(9, dtype=torch.bfloat16), 1, 0, 1, 3, True)
    assert (p.batch, p.in_channels, p.out_channels, p.length, p.kernel_h, p.kernel_w, p.groups) == (3, 6, 9, 20, 2, 5, 3)
    assert (p.has_bias, p.norm, p.dtype) == (1, 1, 2)
    assert _mta.row_stats_elements(p) == 3 * 6 * 20


# ---- neighborhood attention --------------------------------------------------------------------

def qkv(shape=(2, 3, 16, 8), dtype=torch.float32):
    return [torch.randn(*shape, dtype=dtype) for _ in range(3)]


def test_na_on_cpu_tensors_says_it_needs_cuda(na_library):
    with pytest.raises(ValueError, match=r"neighborhood_attention: needs CUDA tensors, but query is on cpu"):
        neighborhood_attention(*qkv())


@pytest.mark.parametrize("kwargs, message", [
    (dict(kernel_size=4), r"kernel_size=4 must be odd"),
    (dict(kernel_size=0), r"kernel_size=0 must be positive"),
    (dict(kernel_size=-3), r"kernel_size=-3 must be positive"),
    (dict(dilation=0), r"dilation=0 must be positive"),
    (dict(scale=-1.0), r"scale=-1 must be positive"),
])
def test_na_bad_values_raise_the_library_message(na_library, kwargs, message):
    with pytest.raises(ValueError, match=message):
        neighborhood_attention(*qkv(), **kwargs)


def test_na_python_side_values(na_library):
    with pytest.raises(ValueError, match=r"window='sliding'; use one of 'clipped', 'shifted', 'causal'"):
        neighborhood_attention(*qkv(), window="sliding")
    with pytest.raises(ValueError, match=r"scale=0.0 must be positive and finite; pass scale=None"):
        neighborhood_attention(*qkv(), scale=0.0)
    with pytest.raises(ValueError, match=r"scale=inf"):
        neighborhood_attention(*qkv(), scale=float("inf"))


def test_na_shapes_and_types(na_library):
    q, k, v = qkv()
    with pytest.raises(ValueError, match=r"query has shape \(3, 16, 8\); expected \(batch, heads, length, head_dim\)"):
        neighborhood_attention(q[0], k[0], v[0])
    with pytest.raises(ValueError, match=r"key has shape \(2, 3, 15, 8\) but query has \(2, 3, 16, 8\)"):
        neighborhood_attention(q, k[:, :, :15], v)
    with pytest.raises(ValueError, match=r"value has shape \(2, 3, 16, 4\)"):
        neighborhood_attention(q, k, v[..., :4])
    with pytest.raises(TypeError, match=r"key must be a torch.Tensor, got NoneType"):
        neighborhood_attention(q, None, v)
    with pytest.raises(TypeError, match=r"query has dtype torch.int64"):
        neighborhood_attention(q.long(), k.long(), v.long())
    with pytest.raises(TypeError, match=r"value has dtype torch.float16 but query has torch.float32"):
        neighborhood_attention(q, k, v.half())
    with pytest.raises(TypeError, match=r"kernel_size must be an int, got 7.0"):
        neighborhood_attention(q, k, v, kernel_size=7.0)
    with pytest.raises(TypeError, match=r"scale must be a float or None, got '1'"):
        neighborhood_attention(q, k, v, scale="1")


def test_na_problem_fields(na_library):
    q, k, v = qkv((2, 3, 16, 8), torch.float16)
    p = _na.problem(q, k, v, 5, 2, None, "causal")
    assert (p.batch, p.heads, p.length, p.head_dim, p.kernel_size, p.dilation) == (2, 3, 16, 8, 5, 2)
    assert (p.window, p.scale, p.dtype) == (2, 0.0, 1)
    assert _na.problem(q, k, v, 5, 2, 0.25, "shifted").scale == 0.25
    assert _na.logsumexp_elements(p) == 2 * 3 * 16


def test_checking_creates_no_runtime():
    # Refused arguments never reach a launch, so they never make the runtime (made at the first launch).
    # Checked in a fresh interpreter: in this one, GPU tests that ran before may have made it.
    script = (
        "import torch, attnjit\n"
        "from attnjit import _runtime\n"
        "q = torch.zeros(1, 2, 8, 16)\n"
        "for call in (lambda: attnjit.functional.neighborhood_attention(q, q, q, kernel_size=4),\n"
        "             lambda: attnjit.functional.multi_token_attention(torch.zeros(1, 3, 8, 8), torch.zeros(3, 1, 3, 3), groups=2)):\n"
        "    try:\n"
        "        call()\n"
        "    except (ValueError, TypeError):\n"
        "        pass\n"
        "assert _runtime._handle is None, 'a refused call made the runtime'\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
