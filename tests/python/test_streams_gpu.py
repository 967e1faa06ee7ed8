"""Kernels run on the current stream of the tensors' device, whichever device is current."""
import pytest

torch = pytest.importorskip("torch")

from attnjit.functional import multi_token_attention, neighborhood_attention

pytestmark = pytest.mark.gpu

SLEEP_CYCLES = 300_000_000  # about 0.15 s at the H100's clock: long enough for a launch on another stream to race


def mta_inputs(device):
    generator = torch.Generator().manual_seed(3)
    scores = torch.randn(2, 4, 64, 64, generator=generator).to(device)
    weight = torch.randn(4, 1, 3, 3, generator=generator).to(device)
    return scores, weight


def test_forward_and_backward_follow_the_current_stream():
    source, weight = mta_inputs("cuda")
    expected = multi_token_attention(source, weight, padding=1, groups=4)
    scores = torch.zeros_like(source)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        # The copy waits behind a sleep on the side stream: a kernel launched anywhere else reads zeros.
        torch.cuda._sleep(SLEEP_CYCLES)
        scores.copy_(source)
        scores.requires_grad_()
        out = multi_token_attention(scores, weight, padding=1, groups=4)
        out.backward(torch.ones_like(out))
    side.synchronize()
    assert torch.equal(out, expected)
    reference = source.clone().requires_grad_()
    multi_token_attention(reference, weight, padding=1, groups=4).backward(torch.ones_like(expected))
    assert torch.equal(scores.grad, reference.grad)


@pytest.mark.usefixtures("na_library")
def test_neighborhood_attention_follows_the_current_stream():
    generator = torch.Generator().manual_seed(4)
    source = [torch.randn(1, 2, 128, 32, generator=generator).cuda() for _ in range(3)]
    expected = neighborhood_attention(*source)
    inputs = [torch.zeros_like(x) for x in source]
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        torch.cuda._sleep(SLEEP_CYCLES)
        for x, s in zip(inputs, source):
            x.copy_(s)
        out = neighborhood_attention(*inputs)
    side.synchronize()
    assert torch.equal(out, expected)


@pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_a_second_device_and_its_stream_while_device_0_is_current():
    source, weight = mta_inputs("cuda:0")
    expected = multi_token_attention(source, weight, padding=1, groups=4)
    scores, weight1 = torch.zeros_like(source, device="cuda:1"), weight.to("cuda:1")
    stream1 = torch.cuda.Stream(device=1)
    with torch.cuda.stream(stream1):  # device 1's current stream is stream1 ...
        torch.cuda._sleep(SLEEP_CYCLES)
        scores.copy_(source)
        with torch.cuda.device(0):  # ... while device 0 is current
            out = multi_token_attention(scores, weight1, padding=1, groups=4)
    stream1.synchronize()
    assert out.device == torch.device("cuda:1")
    assert torch.equal(out.cpu(), expected.cpu())
