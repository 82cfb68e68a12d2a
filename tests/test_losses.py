"Properties of `ftbook.losses` beyond the theory chapter's cells: many shapes, random inputs, edge cases."
import pytest, torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from ftbook.losses import (binary_ce, binary_ce_grad, numerical_grad, sigmoid_bce, sigmoid_bce_grad,
                           softmax_ce, softmax_ce_grad)

SHAPES = [(7,), (3, 4), (2, 5, 3), (2, 1, 3, 2)]

def autograd(loss_fn, x, *args, **kw):
    x = x.detach().clone().requires_grad_(True)
    return torch.autograd.grad(loss_fn(x, *args, **kw), x)[0]

def random_labels(gen, shape, k, frac_ignored=0.3, ignore_index=-100):
    y = torch.randint(0, k, shape, generator=gen)
    y[torch.rand(shape, generator=gen) < frac_ignored] = ignore_index
    return y

@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('k', [2, 5])
def test_softmax_ce_matches_torch_and_autograd(shape, k):
    gen = torch.Generator().manual_seed(hash((shape, k)) % 2**31)
    z = torch.randn(*shape, k, generator=gen, dtype=torch.float64) * 2
    y = random_labels(gen, shape, k)
    y.view(-1)[0] = 0  # at least one labelled position
    ref = F.cross_entropy(z.reshape(-1, k), y.reshape(-1), ignore_index=-100)
    assert torch.allclose(softmax_ce(z, y), ref, atol=1e-12)
    g = softmax_ce_grad(z, y)
    assert g.shape == z.shape
    assert torch.allclose(g, autograd(softmax_ce, z, y), atol=1e-6)
    assert torch.allclose(g, numerical_grad(lambda t: softmax_ce(t, y), z), atol=1e-6)
    assert (g[y == -100] == 0).all()

def test_softmax_ce_custom_ignore_index():
    gen = torch.Generator().manual_seed(0)
    z, y = torch.randn(6, 3, generator=gen, dtype=torch.float64), torch.tensor([0, 1, -1, 2, -1, 1])
    ref = F.cross_entropy(z, y, ignore_index=-1)
    assert torch.allclose(softmax_ce(z, y, ignore_index=-1), ref, atol=1e-12)
    assert torch.allclose(softmax_ce_grad(z, y, ignore_index=-1), autograd(softmax_ce, z, y, ignore_index=-1), atol=1e-12)
    with pytest.raises(ValueError, match='Label -1 is out of range'):
        softmax_ce(z, y)  # with the default ignore_index, -1 is a bad label

def test_softmax_ce_mean_is_over_labelled_positions_only():
    "Adding unlabelled positions must not change the loss: it is a mean over labelled ones."
    gen = torch.Generator().manual_seed(1)
    z, y = torch.randn(4, 3, generator=gen, dtype=torch.float64), torch.tensor([0, 2, 1, 1])
    z_pad = torch.cat([z, torch.randn(5, 3, generator=gen, dtype=torch.float64)])
    y_pad = torch.cat([y, torch.full((5,), -100)])
    assert torch.allclose(softmax_ce(z, y), softmax_ce(z_pad, y_pad), atol=1e-12)

def test_softmax_ce_is_stable_for_huge_logits():
    z = torch.tensor([[1000.0, 0.0, -1000.0]])
    assert torch.isfinite(softmax_ce(z, torch.tensor([0]))) and softmax_ce(z, torch.tensor([0])) == 0
    assert torch.allclose(softmax_ce(z, torch.tensor([2])), torch.tensor(2000.0))
    assert torch.isfinite(softmax_ce_grad(z, torch.tensor([2]))).all()

def test_softmax_ce_errors_name_the_problem():
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r'Label 3 is out of range for 3 classes'): softmax_ce(z, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r'need labels of shape \(2,\)'): softmax_ce(z, torch.tensor([0, 1, 2]))

@pytest.mark.parametrize('shape', SHAPES)
def test_sigmoid_bce_matches_torch_and_autograd(shape):
    gen = torch.Generator().manual_seed(len(shape))
    z = torch.randn(*shape, generator=gen, dtype=torch.float64) * 3
    y = torch.rand(*shape, generator=gen, dtype=torch.float64)  # soft targets are allowed
    assert torch.allclose(sigmoid_bce(z, y), F.binary_cross_entropy_with_logits(z, y), atol=1e-12)
    g = sigmoid_bce_grad(z, y)
    assert torch.allclose(g, autograd(sigmoid_bce, z, y), atol=1e-6)
    assert torch.allclose(g, numerical_grad(lambda t: sigmoid_bce(t, y), z), atol=1e-6)

@pytest.mark.parametrize('shape', SHAPES)
def test_binary_ce_probability_gradient(shape):
    gen = torch.Generator().manual_seed(10 + len(shape))
    p = 0.05 + 0.9 * torch.rand(*shape, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 2, shape, generator=gen).double()
    assert torch.allclose(binary_ce(p, y), F.binary_cross_entropy(p, y), atol=1e-12)
    assert torch.allclose(binary_ce_grad(p, y), autograd(binary_ce, p, y), atol=1e-6)
    assert torch.allclose(binary_ce_grad(p, y), numerical_grad(lambda t: binary_ce(t, y), p), atol=1e-6)

def test_chain_rule_links_the_two_bce_gradients():
    "dℓ/dz = dℓ/dp · σ'(z): the logit gradient is the probability gradient times p(1-p)."
    z = torch.linspace(-4, 4, 9, dtype=torch.float64); y = (z > 0.5).double(); p = torch.sigmoid(z)
    assert torch.allclose(sigmoid_bce_grad(z, y), binary_ce_grad(p, y) * p * (1 - p), atol=1e-12)

def test_bce_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match='same shape'): sigmoid_bce(torch.zeros(3), torch.zeros(3, 1))

def test_binary_is_softmax_with_two_logits():
    "Exercise 2 of the chapter: BCE with logit z equals softmax CE with logits (0, z)."
    z = torch.linspace(-5, 5, 11, dtype=torch.float64); y = (torch.arange(11) % 2)
    two = torch.stack([torch.zeros_like(z), z], -1)
    assert torch.allclose(sigmoid_bce(z, y.double()), softmax_ce(two, y), atol=1e-12)

def test_numerical_grad_keeps_shape_and_input():
    x = torch.randn(3, 4, dtype=torch.float64).T  # non-contiguous input
    before = x.clone()
    g = numerical_grad(lambda t: (t.sin() * t).sum(), x)
    assert g.shape == x.shape and torch.equal(x, before)
    assert torch.allclose(g, x.cos() * x + x.sin(), atol=1e-7)

@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 12), k=st.integers(2, 6), seed=st.integers(0, 2**16), frac=st.floats(0, 1))
def test_softmax_ce_grad_property(n, k, seed, frac):
    "For any batch, including fully unlabelled ones, the gradient equals autograd's and rows sum to zero."
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=gen, dtype=torch.float64) * 4
    y = random_labels(gen, (n,), k, frac_ignored=frac)
    g = softmax_ce_grad(z, y)
    assert torch.allclose(g, autograd(softmax_ce, z, y), atol=1e-6)
    assert torch.allclose(g.sum(-1), torch.zeros(n, dtype=torch.float64), atol=1e-12)
    if (y == -100).all(): assert softmax_ce(z, y) == 0 and (g == 0).all()

@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 10), k=st.integers(2, 5), seed=st.integers(0, 2**16), frac=st.floats(0, 0.9),
       eps=st.sampled_from([0.0, 0.05, 0.3]), weighted=st.booleans())
def test_weighted_smoothed_ce_matches_torch(n, k, seed, frac, eps, weighted):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=gen, dtype=torch.float64) * 3
    y = random_labels(gen, (n,), k, frac_ignored=frac)
    y[0] = 0  # torch returns nan when nothing is labelled; compare where it is defined
    w = torch.rand(k, generator=gen, dtype=torch.float64) + 0.1 if weighted else None
    kw = dict(weight=w, label_smoothing=eps)
    assert torch.allclose(softmax_ce(z, y, **kw), F.cross_entropy(z, y, **kw), atol=1e-10)
    assert torch.allclose(softmax_ce_grad(z, y, **kw), autograd(softmax_ce, z, y, **kw), atol=1e-8)

def test_weighted_ce_all_ignored_is_zero():
    z, y = torch.randn(3, 4), torch.full((3,), -100)
    assert softmax_ce(z, y, weight=torch.ones(4), label_smoothing=0.1) == 0
    assert (softmax_ce_grad(z, y, weight=torch.ones(4), label_smoothing=0.1) == 0).all()
