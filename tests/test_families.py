"""Contracts every registered model family keeps: config fields it does not use are refused."""
from __future__ import annotations

import re

import pytest

from ganforge.config import ModelConfig
from ganforge.errors import GanforgeError
from ganforge.models import FAMILIES
from ganforge.nets import NetShape

SHAPE = NetShape(channels=1, image_size=28, z_dim=8, num_classes=10)

#: small networks each family builds with (every registered family needs an entry)
NETS = {
    "gan": {"generator": {"name": "lucic-g"}, "discriminator": {"name": "lucic-d"}},
    "cgan": {"generator": {"name": "cdcgan-g", "width": 8}, "discriminator": {"name": "cdcgan-d", "width": 8}},
    "acgan": {"generator": {"name": "cdcgan-g", "width": 8}, "discriminator": {"name": "acgan-d", "width": 8}},
    "infogan": {"generator": {"name": "lucic-g"}, "discriminator": {"name": "infogan-d"}},
    "began": {"generator": {"name": "lucic-g"}, "discriminator": {"name": "lucic-began-d"}},
    "vae": {"generator": {"name": "vae-mlp-dec", "hidden": 8}, "encoder": {"name": "vae-mlp-enc", "hidden": 8},
            "discriminator": {}},
}

#: a value other than the neutral one for every ModelConfig field some family leaves unused
NOT_NEUTRAL = {
    "encoder": {"name": "vae-mlp-enc"}, "discriminator": {"name": "lucic-d"}, "loss": "wgan",
    "loss_options": {"clip": 0.1}, "label_smoothing": 0.1, "noisy_labels": True,
    "noisy_labels_range": (0.7, 1.2), "instance_noise": 0.1, "instance_noise_steps": 10, "spectral_norm": True,
    "freeze_d_layers": 1,
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
