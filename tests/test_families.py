"""Contracts every registered model family keeps: config fields it does not use are refused, and the EMA
generator's batch-norm statistics are standing statistics of its own weights."""
from __future__ import annotations

import pytest
import torch

from ganforge.config import ModelConfig, resolve_config
from ganforge.errors import GanforgeError
from ganforge.models import FAMILIES, Family
from ganforge.models.base import batch_norms
from ganforge.nets import NetShape

SHAPE = NetShape(channels=1, image_size=28, z_dim=8, num_classes=10)

#: small networks each family builds with (every registered family needs an entry)
NETS = {
    "gan": {"generator": {"name": "lucic-g"}, "discriminator": {"name": "lucic-d"}},
    "improved-gan": {"generator": {"name": "dcgan-g", "width": 8},
                     "discriminator": {"name": "dcgan-d", "width": 8, "minibatch_kernels": 4}},
    "cgan": {"generator": {"name": "cdcgan-g", "width": 8}, "discriminator": {"name": "cdcgan-d", "width": 8}},
    "acgan": {"generator": {"name": "cdcgan-g", "width": 8}, "discriminator": {"name": "acgan-d", "width": 8}},
    "infogan": {"generator": {"name": "lucic-g"}, "discriminator": {"name": "infogan-d"}},
    "began": {"generator": {"name": "lucic-g"}, "discriminator": {"name": "lucic-began-d"}},
    "vae": {"generator": {"name": "vae-mlp-dec", "hidden": 8}, "encoder": {"name": "vae-mlp-enc", "hidden": 8},
            "discriminator": {}},
    "modnet": {"generator": {"name": "unet", "width": 8}, "discriminator": {"name": "acgan-d", "width": 8}},
    "ddpm": {"generator": {"name": "time-unet", "width": 8}, "discriminator": {}},
    "flow": {"generator": {"name": "time-unet", "width": 8}, "discriminator": {}},
    "progan": {"generator": {"name": "progan-g", "channels": [8, 8, 8]},
               "discriminator": {"name": "progan-d", "channels": [8, 8, 8]}},
    "pix2pix": {"generator": {"name": "unet", "width": 8, "dropout": 0.5},
                "discriminator": {"name": "patchgan", "width": 8}},
    "lapgan": {"generator": {"name": "mlp-g", "hidden": 8, "depth": 1},
               "discriminator": {"name": "mlp-d", "hidden": 8, "depth": 1},
               "options": {"level_generator": {"name": "lapgan-g", "width": 4},
                           "level_discriminator": {"name": "lapgan-d", "width": 4}}},
    "srgan": {"generator": {"name": "srresnet", "width": 8, "blocks": 1},
              "discriminator": {"name": "srgan-d", "width": 8, "dense": 16}, "options": {"content": "mse"}},
    "pix2pixhd": {"generator": {"name": "pix2pixhd-g", "width": 4, "global_blocks": 1, "local_blocks": 1},
                  "discriminator": {"name": "multiscale-patchgan", "width": 4}, "loss": "lsgan"},
    "cyclegan": {"generator": {"name": "resnet-g", "width": 4, "blocks": 1},
                 "discriminator": {"name": "patchgan-image", "width": 4}, "loss": "lsgan"},
}

#: a value other than the neutral one for every ModelConfig field some family leaves unused
NOT_NEUTRAL = {
    "encoder": {"name": "vae-mlp-enc"}, "discriminator": {"name": "lucic-d"}, "loss": "wgan",
    "loss_options": {"clip": 0.1}, "label_smoothing": 0.1, "noisy_labels": True,
    "noisy_labels_range": (0.7, 1.2), "instance_noise": 0.1, "instance_noise_steps": 10, "spectral_norm": True,
    "freeze_d_layers": 1, "z_dist": "uniform", "z_scale": 2.0,
}


def _config(name: str, **change) -> ModelConfig:
    return ModelConfig(**{"family": name, "z_dim": 8, **NETS[name], **change})


@pytest.mark.parametrize("name", FAMILIES.names())
def test_each_family_refuses_the_config_fields_it_does_not_use(name):
    family = FAMILIES.get(name)
    family(_config(name), SHAPE)  # with every unused field neutral the family builds
    for field in family.unused_fields:
        value = NOT_NEUTRAL[field]
        with pytest.raises(GanforgeError) as info:
            family(_config(name, **{field: value}), SHAPE)
        message = str(info.value)
        assert "\n" not in message
        assert message.startswith(f"model.{field}={value!r} is not used by family '{name}'"), message


# ---------------------------------------------------------------- the EMA generator's batch-norm statistics

def _ema_family(name: str, **nets) -> Family:
    """A family with an EMA generator whose weights differ from the live ones, and whose averaged BN
    buffers hold the live network's statistics (what the EMA's running statistics were before standing
    statistics)."""
    torch.manual_seed(0)
    fam = FAMILIES.get(name)(_config(name, **nets), SHAPE)
    fam.enable_ema(0.9)
    labels = torch.arange(16) % 10 if fam.conditional else None
    for _ in range(3):
        with torch.no_grad():
            for p in fam.G.parameters():
                p.add_(0.05 * torch.randn_like(p))
            fam.run_generator(fam.G, fam.sample_latent(16), labels)  # train mode: live running stats move
        fam.update_ema()
    return fam


def _statistics(inputs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over batches of each batch's per-channel mean and unbiased variance (channels on dim 1)."""
    dims = lambda x: [d for d in range(x.dim()) if d != 1]  # noqa: E731
    means = torch.stack([x.double().mean(dim=dims(x)) for x in inputs])
    variances = torch.stack([x.double().var(dim=dims(x), unbiased=True) for x in inputs])
    return means.mean(0), variances.mean(0)


@pytest.mark.parametrize("name", ["gan", "cgan", "infogan"])
def test_standing_statistics_are_the_batch_statistics_of_the_ema_weights(name):
    fam = _ema_family(name)
    g = fam.g_ema.module
    norms = batch_norms(g)
    assert norms, "these generators have batch norm"
    inputs = {m: [] for m in norms}
    labels = []
    for m in norms:
        m.register_forward_pre_hook(lambda mod, args: inputs[mod].append(args[0].detach().clone()))
    g.register_forward_pre_hook(lambda mod, args: labels.append(args[1] if len(args) > 1 else None))
    averaged, momenta = {m: m.running_mean.clone() for m in norms}, {m: m.momentum for m in norms}
    rng = torch.get_rng_state()

    fam.refresh_ema_bn(step=7, batch_size=20, batches=4, seed=3)

    assert torch.equal(torch.get_rng_state(), rng)  # training's random stream did not move
    for m in norms:
        assert len(inputs[m]) == 4 and inputs[m][0].shape[0] == 20
        mean, var = _statistics(inputs[m])
        torch.testing.assert_close(m.running_mean.double(), mean, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(m.running_var.double(), var, rtol=1e-5, atol=1e-5)
        assert m.momentum == momenta[m]  # restored after the cumulative averaging
        assert not torch.allclose(m.running_mean, averaged[m], atol=1e-3)  # not the averaged live statistics
    if fam.conditional:  # balanced labels i mod K
        assert all(torch.equal(y, torch.arange(20) % 10) for y in labels)
    again = {k: v.clone() for k, v in fam.g_ema.state_dict().items()}
    fam.refresh_ema_bn(step=7, batch_size=20, batches=4, seed=3)  # the same latents: the same statistics
    assert all(torch.equal(v, fam.g_ema.state_dict()[k]) for k, v in again.items())


@pytest.mark.parametrize("nets, ema_bn", [
    ({"generator": {"name": "lucic-g", "batchnorm": False}}, "standing"),  # no batch norm in G
    ({}, "averaged"),  # batch norm, but the averaged statistics were asked for
])
def test_refresh_leaves_the_ema_generator_alone_without_batch_norm_or_when_averaged(nets, ema_bn):
    fam = _ema_family("gan", **nets)
    fam.enable_ema(0.9, ema_bn)
    fam.update_ema()
    assert bool(batch_norms(fam.g_ema.module)) == (not nets)
    before = {k: v.clone() for k, v in fam.g_ema.state_dict().items()}
    rng = torch.get_rng_state()
    fam.refresh_ema_bn(step=1, batch_size=8)
    assert all(torch.equal(v, fam.g_ema.state_dict()[k]) for k, v in before.items())
    assert torch.equal(torch.get_rng_state(), rng)


def test_ema_bn_is_a_validated_choice():
    assert resolve_config("quickstart").ema_bn == "standing"
    assert resolve_config("quickstart", {"ema_bn": "averaged"}).ema_bn == "averaged"
    with pytest.raises(GanforgeError, match=r"^config ema_bn='running' is not one of: standing, averaged$"):
        resolve_config("quickstart", {"ema_bn": "running"})
    with pytest.raises(GanforgeError, match="ema_bn='running' is not one of"):
        _ema_family("gan").enable_ema(0.9, "running")
