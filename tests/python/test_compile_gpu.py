"""torch.compile does not break on the ops: with PyTorch >= 2.4 they are custom ops with fake
implementations and autograd, checked by torch.library.opcheck (schema, autograd registration, fake
tensors) and compiled with and without fullgraph; the results equal eager mode's."""
import pytest

torch = pytest.importorskip("torch")

from attnjit import _ops
from attnjit.functional import multi_token_attention, neighborhood_attention

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not _ops.HAS_CUSTOM_OPS, reason="custom ops need PyTorch >= 2.4 (this is %s)"
                                 % torch.__version__)]


# Dynamic-shape tracing is left out: the fake implementations read concrete sizes to validate the problem
# through the library, which specializes the shapes.
OPCHECKS = ("test_schema", "test_autograd_registration", "test_faketensor")


def mta_loss(scores, weight, bias):
    out = multi_token_attention(scores * 2.0, weight, bias, padding=(2, 0, 1, 1), groups=4)
    return (out.float() ** 2).sum()


def na_loss(query, key, value):
    return (neighborhood_attention(query, key, value, kernel_size=5, window="causal") ** 2).sum()


def grads_of(fn, inputs):
    inputs = [x.detach().clone().requires_grad_() for x in inputs]
    loss = fn(*inputs)
    loss.backward()
    return loss.detach(), [x.grad for x in inputs]


def mta_inputs():
    generator = torch.Generator().manual_seed(5)
    return [torch.randn(2, 4, 48, 48, generator=generator).cuda(), torch.randn(4, 1, 3, 3, generator=generator).cuda(),
            torch.randn(4, generator=generator).cuda()]


def na_inputs():
    generator = torch.Generator().manual_seed(6)
    return [torch.randn(1, 2, 40, 32, generator=generator).cuda() for _ in range(3)]


@pytest.mark.parametrize("fullgraph", [False, True])
def test_compiled_mta_equals_eager(fullgraph):
    torch._dynamo.reset()
    inputs = mta_inputs()
    eager_loss, eager_grads = grads_of(mta_loss, inputs)
    loss, grads = grads_of(torch.compile(mta_loss, fullgraph=fullgraph), inputs)
    # The compiled graph may sum the loss in another order; the ops themselves are the same kernels.
    torch.testing.assert_close(loss, eager_loss, rtol=1e-4, atol=1e-4)
    for got, want in zip(grads, eager_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.usefixtures("na_library")
@pytest.mark.parametrize("fullgraph", [False, True])
def test_compiled_neighborhood_attention_equals_eager(fullgraph):
    torch._dynamo.reset()
    inputs = na_inputs()
    eager_loss, eager_grads = grads_of(na_loss, inputs)
    loss, grads = grads_of(torch.compile(na_loss, fullgraph=fullgraph), inputs)
    # The compiled graph may sum the loss in another order; the ops themselves are the same kernels.
    torch.testing.assert_close(loss, eager_loss, rtol=1e-4, atol=1e-4)
    for got, want in zip(grads, eager_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_opcheck_mta_forward():
    scores, weight, bias = mta_inputs()
    args = (scores.requires_grad_(), weight.requires_grad_(), bias.requires_grad_(), [1, 1], [1, 1, 1, 1], [1, 1], 4, False)
    torch.library.opcheck(torch.ops.attnjit.mta_forward.default, args, test_utils=OPCHECKS)


@pytest.mark.usefixtures("na_library")
def test_opcheck_na_forward():
    query, key, value = (x.requires_grad_() for x in na_inputs())
    torch.library.opcheck(torch.ops.attnjit.na_forward.default, (query, key, value, 5, 1, None, "clipped"),
                          test_utils=OPCHECKS)


def test_a_bad_call_fails_while_tracing_with_the_message():
    torch._dynamo.reset()
    scores, weight, _ = mta_inputs()
    with pytest.raises(Exception, match=r"mta: groups=3 does not divide in_channels=4"):
        torch.compile(lambda s, w: multi_token_attention(s, w, groups=3), fullgraph=True)(scores, weight)
