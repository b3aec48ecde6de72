"""The ``flow`` family (flow matching / rectified flow): the straight path and its loss by hand, the family's
draws of t and noise, and the Euler and Heun samplers transporting a 2-d Gaussian to a known target along the
exact velocity field of the straight path (first and second order convergence)."""
from __future__ import annotations

import pytest
import torch

from ganforge.config import ModelConfig
from ganforge.errors import GanforgeError
from ganforge.models import FAMILIES, SamplerRequest
from ganforge.models.flow import euler, flow_matching_loss, heun, straight_path
from ganforge.nets import NetShape

M = torch.tensor([2.0, -1.0], dtype=torch.float64)
SIGMA = torch.tensor([[1.5, 0.6], [0.6, 0.5]], dtype=torch.float64)
EYE = torch.eye(2, dtype=torch.float64)


def test_straight_path_and_loss_by_hand():
    """Two one-pixel images, v_theta(x, t) = x. Image 1: x_0 = 0.5, x_1 = 1, t = 0.25: x_t = 0.75 * 0.5 + 0.25 = 0.625,
    target 0.5, error 0.125^2 = 0.015625. Image 2: x_0 = 2, x_1 = -1, t = 0.5: x_t = 0.5, target -3, error
    3.5^2 = 12.25. Mean 6.1328125."""
    x0 = torch.tensor([0.5, 2.0]).view(2, 1, 1, 1)
    x1 = torch.tensor([1.0, -1.0]).view(2, 1, 1, 1)
    t = torch.tensor([0.25, 0.5])
    assert straight_path(x0, x1, t).flatten().tolist() == [0.625, 0.5]
    assert straight_path(x0, x1, torch.zeros(2)).flatten().tolist() == [0.5, 2.0]  # t = 0: noise
    assert straight_path(x0, x1, torch.ones(2)).flatten().tolist() == [1.0, -1.0]  # t = 1: data
    assert flow_matching_loss(lambda x, tt: x, x1, t, x0).item() == pytest.approx(6.1328125, abs=1e-6)


def _family(**options):
    torch.manual_seed(0)
    cfg = ModelConfig(family="flow", generator={"name": "time-unet", "width": 8, "mults": [1, 2]},
                      discriminator={}, options=options)
    return FAMILIES.get("flow")(cfg, NetShape(1, 28, 8, 10))


def test_the_family_loss_draws_t_uniformly_and_passes_the_net_1000_t():
    fam = _family()
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    calls = []
    net = lambda xt, time, y: calls.append((xt, time, y)) or 0.3 * xt  # noqa: E731
    torch.manual_seed(5)
    loss = fam.loss(net, x, None)
    torch.manual_seed(5)
    t, noise = torch.rand(4), torch.randn_like(x)
    xt = (1 - t).view(4, 1, 1, 1) * noise + t.view(4, 1, 1, 1) * x
    torch.testing.assert_close(calls[0][1], 1000 * t)
    torch.testing.assert_close(calls[0][0], xt)
    torch.testing.assert_close(loss, (0.3 * xt - (x - noise)).pow(2).mean())


def exact_velocity(x: torch.Tensor, t: float) -> torch.Tensor:
    """The flow matching optimum E[x_1 - x_0 | x_t = x] for x_0 ~ N(0, I), x_1 ~ N(M, SIGMA) independent:
    x_t ~ N(t M, C_t) with C_t = (1 - t)^2 I + t^2 SIGMA and Cov(x_1 - x_0, x_t) = t SIGMA - (1 - t) I, so
    v(x, t) = M + (t SIGMA - (1 - t) I) C_t^-1 (x - t M). Its flow carries N(0, I) to N(M, SIGMA)."""
    c = (1 - t) ** 2 * EYE + t ** 2 * SIGMA
    b = t * SIGMA - (1 - t) * EYE
    return M + (x - t * M) @ torch.linalg.solve(c, b.T)  # rows: (x - tM)^T C^-1 B^T = (B C^-1 (x - tM))^T


def _transport_error(method, steps: int) -> float:
    """The sampler's map is affine (the field is affine in x): its images of 0, e_1, e_2 give b and A, and it
    carries N(0, I) to N(b, A A^T) exactly; the error is |b - M| + |A A^T - SIGMA| (Frobenius)."""
    y = method(exact_velocity, torch.stack([torch.zeros(2, dtype=torch.float64), EYE[0], EYE[1]]), steps)
    b, a = y[0], (y[1:] - y[0]).T
    return float((b - M).norm() + (a @ a.T - SIGMA).norm())


def test_euler_with_many_steps_transports_the_gaussian_to_the_target():
    assert _transport_error(euler, 1000) < 5e-3
    # and a Monte Carlo look at the samples themselves
    x = torch.randn(20_000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = euler(exact_velocity, x, 1000)
    torch.testing.assert_close(y.mean(0), M, atol=0.05, rtol=0)
    torch.testing.assert_close(torch.cov(y.T), SIGMA, atol=0.05, rtol=0)


def test_heun_is_more_accurate_than_euler_at_equal_steps_and_of_second_order():
    for steps in (5, 10, 20, 40):
        assert _transport_error(heun, steps) < _transport_error(euler, steps) / 10
    euler_ratio = _transport_error(euler, 20) / _transport_error(euler, 40)
    heun_ratio = _transport_error(heun, 20) / _transport_error(heun, 40)
    assert 1.7 < euler_ratio < 2.3 and 3.4 < heun_ratio < 5.0  # halving h: error / 2 (first order), / 4 (second)


def test_flow_latents_have_no_seed_column_and_sampling_is_deterministic():
    fam = _family(sample_steps=3)
    z = fam.sample_latent(2, torch.Generator().manual_seed(0), device="cpu")
    assert z.shape == (2, 784)
    torch.manual_seed(1)
    a = fam.generate(z, use_ema=False)
    torch.manual_seed(2)
    assert torch.equal(a, fam.generate(z, use_ema=False))


@pytest.mark.parametrize("request_,match", [(SamplerRequest(sampler="ddim"), "unknown flow sampler 'ddim'"),
                                            (SamplerRequest(eta=0.5), "'euler' has no eta"),
                                            (SamplerRequest(steps=-2), "steps")])
def test_bad_sampler_settings_are_one_line_errors(request_, match):
    with pytest.raises(GanforgeError, match=match):
        with _family().sampling(request_):
            pass
