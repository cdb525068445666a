"""The biased PMF module: shapes, bias switch, and analytic gradients equal to autograd's."""

from __future__ import annotations

import pytest
import torch

from music_recommender.pmf import PMF
from music_recommender.pmf.trainer import TrainConfig, batch_loss


@pytest.fixture
def pairs() -> torch.Tensor:
    return torch.tensor([[0, 1], [2, 0], [2, 3], [1, 1]])


def test_forward_shape_and_parameters(pairs: torch.Tensor) -> None:
    model = PMF(3, 4, n_factors=5)
    assert model(pairs).shape == (4,)
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert shapes == {
        "global_bias": (),
        "user_factors.weight": (3, 5),
        "item_factors.weight": (4, 5),
        "user_bias.weight": (3, 1),
        "item_bias.weight": (4, 1),
    }


def test_biases_add_to_the_dot_product(pairs: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = PMF(3, 4, n_factors=5, global_bias=0.5)
    with torch.no_grad():
        model.user_bias.weight[2] = 1.0
        model.item_bias.weight[3] = -2.0
    dot = (model.user_factors(pairs[:, 0]) * model.item_factors(pairs[:, 1])).sum(1)
    expected = dot + 0.5 + torch.tensor([0.0, 1.0, 1.0 - 2.0, 0.0])
    torch.testing.assert_close(model(pairs), expected)


def test_without_biases_it_is_the_plain_dot_product(pairs: torch.Tensor) -> None:
    model = PMF(3, 4, n_factors=5, biases=False, global_bias=3.0)
    assert not hasattr(model, "user_bias")
    dot = (model.user_factors(pairs[:, 0]) * model.item_factors(pairs[:, 1])).sum(1)
    torch.testing.assert_close(model(pairs), dot)
    assert all(p.requires_grad for p in model.parameters() if p.dim() > 0)
    assert not model.global_bias.requires_grad


def test_invalid_sizes() -> None:
    with pytest.raises(ValueError, match="n_factors must be >= 1"):
        PMF(3, 4, n_factors=0)


@pytest.mark.parametrize("biases", [True, False])
def test_fill_grads_matches_autograd(biases: bool) -> None:
    torch.manual_seed(1)
    model = PMF(6, 7, n_factors=3, biases=biases, global_bias=0.2)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    pairs = torch.tensor([[0, 1], [0, 1], [5, 6], [3, 2], [3, 0]])  # a repeated pair too
    targets = torch.randn(5)
    config = TrainConfig(l2=0.7, bias_l2=0.3, user_bias_ridge=2.0, item_bias_ridge=3.0)
    coef = (torch.rand(6) + 0.1, torch.rand(7) + 0.1) if biases else None
    loss, mse = batch_loss(model, pairs, targets, config, coef)
    model.zero_grad()
    loss.backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    got_mse = model.fill_grads(pairs, targets, config.l2, coef)
    torch.testing.assert_close(got_mse, mse.detach())
    for name, grad in expected.items():
        torch.testing.assert_close(dict(model.named_parameters())[name].grad, grad, msg=name)
