"""BEGAN family: Berthelot, Schumm and Metz 2017, "BEGAN: Boundary Equilibrium Generative Adversarial Networks".

The discriminator D is an autoencoder (an entry of :data:`ganforge.nets.began.AUTOENCODERS`) and the
losses are built from its pixel-wise reconstruction error (section 3.1)::

    L(v) = mean over pixels of |v - D(v)|^eta                  (eta = 1 by default)

The BEGAN objective (section 3.4)::

    L_D = L(x) - k_t L(G(z_D))          (D's update)
    L_G = L(G(z_G))                      (G's update)
    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)

and the convergence measure (section 3.4.1)::

    M_global = L(x) + |gamma L(x) - L(G(z))|

k_t is a registered buffer, so checkpoints hold it and resume continues from the exact value. It is
updated after every discriminator update from the L(x) and L(G(z_D)) of that update (as compare_gan, the
code behind Lucic et al. 2018, updates it after every discriminator iteration; with ``d_steps`` = 5 it
moves five times per generator step). Unlike compare_gan, which leaves k unbounded, k is clipped to
[0, 1] as the paper states. Under torch.distributed the two errors are averaged over the processes before
the update, so every process keeps the same k.

Logged per step: ``loss_d`` (L_D), ``loss_g`` (L_G), ``recon_real`` (L(x)), ``recon_fake`` (L(G(z_D))),
``k`` (k after the update) and ``convergence`` (M_global).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..config import ModelConfig
from ..errors import GanforgeError
from ..nets import GENERATORS, build_from_spec
from ..nets.began import AUTOENCODERS
from .base import D_HEURISTIC_FIELDS, LOGIT_D_FIELDS, FAMILIES, Batch, Family, world_size

def autoencoder_loss(v: torch.Tensor, reconstruction: torch.Tensor, eta: float = 1.0) -> torch.Tensor:
    """L(v) = mean |v - D(v)|^eta over batch and pixels, in float32 (Berthelot et al. 2017, section 3.1)."""
    return (v.float() - reconstruction.float()).abs().pow(eta).mean()


def began_d_loss(l_real: torch.Tensor, l_fake: torch.Tensor, k: torch.Tensor | float) -> torch.Tensor:
    """L_D = L(x) - k_t L(G(z_D)) (Berthelot et al. 2017, section 3.4); k_t is a constant here."""
    k = k.detach() if isinstance(k, torch.Tensor) else k
    return l_real - k * l_fake


def next_k(k: torch.Tensor, l_real: torch.Tensor, l_fake: torch.Tensor, gamma: float,
           lambda_k: float) -> torch.Tensor:
    """k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1) (Berthelot et al. 2017, section 3.4)."""
    return (k + lambda_k * (gamma * l_real - l_fake)).clamp(0.0, 1.0)


def convergence_measure(l_real: torch.Tensor, l_fake: torch.Tensor, gamma: float) -> torch.Tensor:
    """M_global = L(x) + |gamma L(x) - L(G(z))| (Berthelot et al. 2017, section 3.4.1)."""
    return l_real + (gamma * l_real - l_fake).abs()


def _mean_over_processes(values: torch.Tensor) -> torch.Tensor:
    """Average a tensor over torch.distributed processes (unchanged in a single process)."""
    if world_size() == 1:
        return values
    values = values.clone()
    dist.all_reduce(values)
    return values / world_size()


def _number(name: str, value: object, low: float, high: float, low_open: bool = False) -> float:
    """``value`` as a float in [low, high] ((low, high] with ``low_open``), or a one-line error."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        ok = (low < value if low_open else low <= value) and value <= high
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise GanforgeError(f"model.options.{name} of family 'began' must be a number in {interval}, "
                            f"got {value!r}")
    return float(value)


@FAMILIES.register("began")
class BEGAN(Family):
    """G: z -> x, D: x -> reconstruction of x; trained with the BEGAN objective and k_t control."""

    # the loss is the BEGAN objective on an autoencoder: the logit discriminator's settings do not apply
    unused_fields = LOGIT_D_FIELDS + D_HEURISTIC_FIELDS + ("encoder",)

    @dataclass
    class Args:
        """``gamma`` = E[L(G(z))] / E[L(x)] the equilibrium aims at (diversity ratio), ``lambda_k`` the
        learning rate of k, ``k_init`` = k_0, ``eta`` the exponent of the reconstruction error (1 or 2)."""

        gamma: float = 0.75
        lambda_k: float = 1e-3
        k_init: float = 0.0
        eta: float = 1.0

        def __post_init__(self) -> None:
            self.gamma = _number("gamma", self.gamma, 0.0, 1.0, low_open=True)
            self.lambda_k = _number("lambda_k", self.lambda_k, 0.0, 1.0)
            self.k_init = _number("k_init", self.k_init, 0.0, 1.0)
            if self.eta not in (1, 2) or isinstance(self.eta, bool):
                raise GanforgeError(f"model.options.eta of family 'began' must be 1 or 2, got {self.eta!r}")
            self.eta = float(self.eta)

    def __init__(self, cfg: ModelConfig, shape) -> None:
        super().__init__(cfg, shape)
        self.G = build_from_spec(GENERATORS, cfg.generator, shape, "generator")
        self.D = build_from_spec(AUTOENCODERS, cfg.discriminator, shape, "discriminator")
        if self.D.out_range != self.G.out_range:
            raise GanforgeError(f"autoencoder {cfg.discriminator['name']!r} reconstructs in range "
                                f"{self.D.out_range!r} but generator {cfg.generator['name']!r} outputs "
                                f"{self.G.out_range!r}; expected the same range")
        self.out_range = self.G.out_range
        self.register_buffer("k", torch.tensor(self.args.k_init, dtype=torch.float32))

    def trainable(self):
        return {"g": self.G, "d": self.D}

    def init_from_data(self, mean_image: torch.Tensor) -> None:
        self.G.init_output_bias(mean_image)

    def _recon_error(self, v: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            reconstruction = self.net("d")(v)
        return autoencoder_loss(v, reconstruction, self.args.eta)

    def d_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        n = batch.images.shape[0]
        with torch.no_grad(), self.autocast():
            fake = self.net("g")(self.sample_latent(n))
        l_real = self._recon_error(batch.images)
        l_fake = self._recon_error(fake)
        loss = began_d_loss(l_real, l_fake, self.k)
        opts["d"].zero_grad(set_to_none=True)
        loss.backward()
        opts["d"].step()
        l_real, l_fake = _mean_over_processes(torch.stack([l_real.detach(), l_fake.detach()]))
        with torch.no_grad():
            self.k.copy_(next_k(self.k, l_real, l_fake, self.args.gamma, self.args.lambda_k))
        return {"loss_d": loss.detach(), "recon_real": l_real, "recon_fake": l_fake, "k": self.k.clone(),
                "convergence": convergence_measure(l_real, l_fake, self.args.gamma)}

    def g_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        n = batch.images.shape[0]
        with self.d_held():
            with self.autocast():
                fake = self.net("g")(self.sample_latent(n))
            loss = self._recon_error(fake)
            opts["g"].zero_grad(set_to_none=True)
            loss.backward()
        opts["g"].step()
        return {"loss_g": loss.detach()}
