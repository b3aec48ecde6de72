"""Improved GAN (Salimans et al. 2016): minibatch discrimination, feature matching and historical averaging
against direct computations of the paper's formulas, and the improved-gan family's use of them."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from ganforge.config import ModelConfig
from ganforge.errors import GanforgeError
from ganforge.losses.improved import ParameterAverage, feature_matching_loss, historical_average_penalty
from ganforge.models import FAMILIES, Batch
from ganforge.nets import DISCRIMINATORS, NetShape, build_net
from ganforge.nets.minibatch import MinibatchDiscrimination


def test_minibatch_discrimination_matches_the_paper_formula_by_loops():
    """M_i = f(x_i) T; c_b(x_i, x_j) = exp(-||M_i,b - M_j,b||_L1); o(x_i)_b = sum_j c_b; output [f, o]."""
    torch.manual_seed(0)
    n, a, b, c = 5, 7, 4, 3
    layer = MinibatchDiscrimination(a, b, c)
    assert layer.T.shape == (a, b, c)
    f = torch.randn(n, a)
    out = layer(f)
    assert out.shape == (n, a + b)
    assert torch.equal(out[:, :a], f)
    T = layer.T.detach()
    for i in range(n):
        m_i = [[sum(f[i, k] * T[k, bb, cc] for k in range(a)) for cc in range(c)] for bb in range(b)]
        for bb in range(b):
            o = 0.0
            for j in range(n):
                m_j = [sum(f[j, k] * T[k, bb, cc] for k in range(a)) for cc in range(c)]
                o += math.exp(-sum(abs(float(m_i[bb][cc] - m_j[cc])) for cc in range(c)))
            assert out[i, a + bb].item() == pytest.approx(o, rel=1e-5)


def test_minibatch_discrimination_makes_each_logit_depend_on_the_rest_of_the_batch():
    shape = NetShape(1, 28, 8)
    torch.manual_seed(0)
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    other = torch.rand(6, 1, 28, 28) * 2 - 1
    for kernels, depends in ((0, False), (16, True)):
        d = build_net(DISCRIMINATORS, "dcgan-d", shape, {"width": 8, "batchnorm": False,
                                                          "minibatch_kernels": kernels}).eval()
        with torch.no_grad():
            alone, mixed = d(x)[:3], d(torch.cat([x[:3], other[3:]]))[:3]
        assert torch.allclose(alone, mixed) != depends
    mbd = [m for m in d.modules() if isinstance(m, MinibatchDiscrimination)]
    assert len(mbd) == 1 and mbd[0].T.shape == (16 * 7 * 7, 16, 5)  # A = D's last feature map, C = 5
    assert d.hidden_features(x).shape == (6, 16 * 7 * 7)


def test_feature_matching_loss_is_the_squared_norm_of_the_mean_difference():
    torch.manual_seed(0)
    real, fake = torch.randn(8, 5), torch.randn(6, 5) + 0.5
    direct = 0.0
    for k in range(5):
        mean_real = sum(real[i, k].item() for i in range(8)) / 8
        mean_fake = sum(fake[j, k].item() for j in range(6)) / 6
        direct += (mean_real - mean_fake) ** 2
    assert feature_matching_loss(real, fake).item() == pytest.approx(direct, rel=1e-6)
    assert feature_matching_loss(real, real[torch.randperm(8)]).item() == pytest.approx(0.0, abs=1e-10)


def test_historical_average_is_the_mean_of_all_past_parameters_and_its_penalty_the_squared_distance():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    average = ParameterAverage(net)
    history = []
    for _ in range(4):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        history.append([p.detach().clone() for p in net.parameters()])
        average.update(net)
    assert int(average.count) == 4
    for k, mean in enumerate(average.means()):
        assert torch.allclose(mean, sum(h[k] for h in history) / 4)
    with torch.no_grad():
        net.weight.add_(1.0)
    direct = sum(((p - sum(h[k] for h in history) / 4) ** 2).sum() for k, p in enumerate(net.parameters()))
    penalty = historical_average_penalty(average.params(net), average.means(), 0.5)
    assert penalty.item() == pytest.approx(0.5 * direct.item(), rel=1e-6)
    penalty.backward()  # the gradient is 2 w (theta - mean); the mean is a constant
    assert torch.allclose(net.weight.grad, (net.weight - average.means()[0]).detach())


def _family(**options) -> torch.nn.Module:
    cfg = ModelConfig(family="improved-gan", z_dim=8, generator={"name": "dcgan-g", "width": 8},
                      discriminator={"name": "dcgan-d", "width": 8, "minibatch_kernels": 4}, loss="ns",
                      options=options)
    torch.manual_seed(0)
    return FAMILIES.get("improved-gan")(cfg, NetShape(1, 28, 8))


def _opts(family, lr=0.0):
    return {name: torch.optim.SGD(net.parameters(), lr=lr) for name, net in family.trainable().items()}


def test_feature_matching_g_step_minimises_the_distance_of_d_feature_means():
    fam = _family(feature_matching=True)
    batch = Batch(images=torch.rand(6, 1, 28, 28) * 2 - 1, labels=torch.zeros(6, dtype=torch.long))
    state = copy.deepcopy(fam.state_dict())
    torch.manual_seed(1)
    logged = fam.g_step(batch, _opts(fam))["loss_g"]
    fam.load_state_dict(state)
    torch.manual_seed(1)
    fake = fam.G(fam.sample_latent(6))
    real_f, fake_f = fam.D.hidden_features(batch.images), fam.D.hidden_features(fake)
    direct = sum((real_f[:, k].mean() - fake_f[:, k].mean()) ** 2 for k in range(real_f.shape[1]))
    assert logged.item() == pytest.approx(direct.item(), rel=1e-5)
    fam.load_state_dict(state)
    torch.manual_seed(1)
    fam_ns = _family(feature_matching=False)
    fam_ns.load_state_dict(state)
    torch.manual_seed(1)
    assert fam_ns.g_step(batch, _opts(fam_ns))["loss_g"].item() != pytest.approx(direct.item(), rel=1e-3)


def test_historical_averaging_adds_the_penalty_to_both_players_and_is_checkpointed():
    fam = _family(feature_matching=True, historical_averaging=0.25)
    batch = Batch(images=torch.rand(6, 1, 28, 28) * 2 - 1, labels=torch.zeros(6, dtype=torch.long))
    opts = _opts(fam, lr=0.1)
    first = [p.detach().clone() for p in fam.D.parameters()]
    stats = fam.d_step(batch, opts)
    assert stats["hist_avg_d"].item() == 0.0  # the mean of theta[1] alone is theta[1]
    second = [p.detach().clone() for p in fam.D.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(first, second))
    stats = fam.d_step(batch, opts)  # mean (theta1 + theta2) / 2, penalty w ||theta2 - mean||^2
    direct = 0.25 * sum(((b - (a + b) / 2) ** 2).sum() for a, b in zip(first, second))
    assert stats["hist_avg_d"].item() == pytest.approx(direct.item(), rel=1e-5)
    assert fam.g_step(batch, opts)["hist_avg_g"].item() == 0.0
    keys = fam.state_dict().keys()
    assert "averages.d.count" in keys and "averages.g.mean_0" in keys
    restored = _family(feature_matching=True, historical_averaging=0.25)
    restored.load_state_dict(fam.state_dict())
    assert int(restored.averages["d"].count) == 2


@pytest.mark.parametrize("options, message", [
    ({"historical_averaging": -1.0}, "historical_averaging must be a number >= 0"),
    ({"feature_matching": "yes"}, "feature_matching must be true or false"),
    ({"minibatch": 3}, "no option 'minibatch'"),
])
def test_bad_improved_gan_options_are_one_line_errors(options, message):
    with pytest.raises(GanforgeError, match=message):
        _family(**options)


def test_feature_matching_refuses_a_discriminator_without_a_feature_layer():
    cfg = ModelConfig(family="improved-gan", z_dim=8, generator={"name": "lucic-g"},
                      discriminator={"name": "lucic-d"}, loss="ns")
    with pytest.raises(GanforgeError, match="'lucic-d' has none"):
        FAMILIES.get("improved-gan")(cfg, NetShape(1, 28, 8))
