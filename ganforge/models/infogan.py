"""InfoGAN family: latent codes whose mutual information with the image is maximised.

Chen et al. 2016, "InfoGAN: Interpretable Representation Learning by Information Maximizing Generative
Adversarial Nets" (Dronen 2019, InfoGAN slide: min_G max_D V_I(D, G) = V(D, G) - lambda I(c; G(z, c))). The
mutual information is replaced by its variational lower bound (eq. 4-5 of the paper):

    min_{G,Q} max_D  V(D, G) - lambda L_I(G, Q),    L_I(G, Q) = E_{c ~ P(c), x ~ G(z, c)}[log Q(c|x)] + H(c)

Latent layout (what :meth:`InfoGAN.sample_latent` returns, so grids, interpolation, ``generate`` and
``ganforge.load(...).sample()`` need nothing special): ``[noise | one-hot codes | continuous codes]``;
noise as ``model.z_dim``/``z_dist``/``z_scale``, each categorical code uniform over its categories (one-hot),
each continuous code uniform(-1, 1). The generator is any registered one built for the total size.

Q's distributions: categorical codes get softmax logits (their term of -L_I is the cross-entropy); continuous
codes a factored Gaussian, by default with a fixed unit standard deviation (``Uniform(1, fix_std=True)`` in
openai/InfoGAN's ``launchers/run_mnist_exp.py``), so their term is 0.5 (c - mu)^2 + 0.5 log(2 pi); with
``learn_std`` Q also outputs log sigma per code. H(c) is a constant and left out of the loss.

Training (openai/InfoGAN ``infogan_trainer.py``): the information term lambda_cat * CE + lambda_cont * NLL on
the fakes is added to both the D loss and the G loss. As there, the discriminator optimiser updates D's
variables, the Q head included (D's body, its logit and Q), and the generator optimiser only G's: the
information term of the G update reaches G through D and Q but moves neither, so Q takes one step per
iteration. Defaults are the paper's MNIST setting: 62-d noise, one 10-way categorical code, two
continuous codes, lambda 1 for both (the official code's ``info_reg_coeff=1.0``; the paper suggests a
smaller lambda for continuous codes when their term involves a learned variance).

Logged: ``loss_d`` and ``loss_g`` (the adversarial parts, comparable with the plain GAN family),
``loss_info`` (the weighted information term added to both), ``q_acc`` (share of categorical codes of the
fakes that Q's argmax recovers), ``mi_cat``/``mi_cont`` (the lower bounds L_I in nats, per code type).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F

from ..errors import GanforgeError
from ..nets import GENERATORS, build_from_spec
from ..nets.infogan import build_info_discriminator
from .base import D_HEURISTIC_FIELDS, Batch, FAMILIES, Family
from .gan import LogitOnly, prepare_discriminator, update_discriminator, with_penalty

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


# ---------------------------------------------------------------- the latent layout

@dataclass(frozen=True)
class CodeLayout:
    """Where each part sits in a latent vector ``[noise | one-hot codes | continuous codes]``."""

    noise: int
    categorical: tuple[int, ...]
    continuous: int

    @property
    def onehot(self) -> int:
        return sum(self.categorical)

    @property
    def total(self) -> int:
        return self.noise + self.onehot + self.continuous

    def q_outputs(self, learn_std: bool) -> int:
        """Q's outputs: logits per category, then a mean (and a log-std if learned) per continuous code."""
        return self.onehot + self.continuous * (2 if learn_std else 1)

    def sample_codes(self, n: int, generator: Optional[torch.Generator], device) -> tuple[torch.Tensor, torch.Tensor]:
        """Category indices (n, n_cat) uniform over each code's categories, continuous codes (n, n_cont) ~ U(-1, 1)."""
        cats = [torch.randint(k, (n,), generator=generator, device=device) for k in self.categorical]
        cat = torch.stack(cats, dim=1) if cats else torch.zeros((n, 0), dtype=torch.int64, device=device)
        cont = 2.0 * torch.rand((n, self.continuous), generator=generator, device=device) - 1.0
        return cat, cont

    def assemble(self, noise: torch.Tensor, cat: torch.Tensor, cont: torch.Tensor) -> torch.Tensor:
        """noise (N, noise), category indices (N, n_cat), continuous (N, n_cont) -> latents (N, total)."""
        onehots = [F.one_hot(cat[:, j], k).to(noise.dtype) for j, k in enumerate(self.categorical)]
        return torch.cat([noise, *onehots, cont.to(noise.dtype)], dim=1)

    def split(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The inverse of :meth:`assemble`: latents (N, total) -> (noise, category indices, continuous)."""
        if z.shape[1] != self.total:
            raise GanforgeError(f"InfoGAN latents must have {self.total} columns, got {z.shape[1]}")
        start = self.noise + self.onehot
        blocks = torch.split(z[:, self.noise:start], list(self.categorical), dim=1) if self.categorical else ()
        cat = torch.stack([b.argmax(dim=1) for b in blocks], dim=1) if blocks else \
            torch.zeros((z.shape[0], 0), dtype=torch.int64, device=z.device)
        return z[:, :self.noise], cat, z[:, start:]


# ---------------------------------------------------------------- the information term

@dataclass
class InfoTerms:
    """Batch means of -log Q(c|x), summed over the codes of each type, and Q's categorical accuracy."""

    cat_nll: torch.Tensor
    cont_nll: torch.Tensor
    accuracy: Optional[torch.Tensor]


def information_terms(q: torch.Tensor, cat: torch.Tensor, cont: torch.Tensor, layout: CodeLayout,
                      learn_std: bool) -> InfoTerms:
    """-E[log Q(c|x)] for the codes (cat, cont) the fakes were generated from (Chen et al. 2016, eq. 5).

    q (N, P) is Q's output laid out as :meth:`CodeLayout.q_outputs`. Categorical code j: cross-entropy
    -log softmax(logits_j)[c_j]. Continuous code i, Gaussian N(mu_i, sigma_i^2): 0.5 ((c_i - mu_i) /
    sigma_i)^2 + log sigma_i + 0.5 log(2 pi), with log sigma_i = 0 unless ``learn_std``.
    """
    q = q.float()
    logits = torch.split(q[:, :layout.onehot], list(layout.categorical), dim=1) if layout.categorical else ()
    zero = q.new_zeros(())
    cat_nll = sum((F.cross_entropy(l, cat[:, j]) for j, l in enumerate(logits)), zero)
    accuracy = torch.stack([(l.argmax(dim=1) == cat[:, j]).float().mean() for j, l in enumerate(logits)]).mean() \
        if logits else None
    m, start = layout.continuous, layout.onehot
    mean = q[:, start:start + m]
    log_std = q[:, start + m:start + 2 * m] if learn_std else torch.zeros_like(mean)
    nll = 0.5 * ((cont.float() - mean) * torch.exp(-log_std)) ** 2 + log_std + HALF_LOG_2PI  # (N, m)
    return InfoTerms(cat_nll, nll.sum(dim=1).mean() if m else zero, accuracy)


# ---------------------------------------------------------------- options

def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_options(args: "InfoGAN.Args") -> None:
    cats = args.categorical
    if not isinstance(cats, (list, tuple)) or not all(_is_int(k) and k >= 2 for k in cats):
        raise GanforgeError(f"model.options.categorical must be a list of category counts, each at least 2 "
                            f"(got {cats!r})")
    if not _is_int(args.continuous) or args.continuous < 0:
        raise GanforgeError(f"model.options.continuous must be a whole number >= 0, got {args.continuous!r}")
    if not cats and args.continuous == 0:
        raise GanforgeError("model.options: InfoGAN needs at least one code (categorical or continuous)")
    for key in ("lambda_cat", "lambda_cont"):
        value = getattr(args, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
            raise GanforgeError(f"model.options.{key} must be a number >= 0, got {value!r}")
    if not isinstance(args.learn_std, bool):
        raise GanforgeError(f"model.options.learn_std must be true or false, got {args.learn_std!r}")


# ---------------------------------------------------------------- the family

@FAMILIES.register("infogan")
class InfoGAN(Family):
    """G: [noise | codes] -> x; D: x -> (logit, Q's code parameters) from one shared body."""

    # the plain GAN family's target and instance-noise heuristics are not implemented here
    unused_fields = D_HEURISTIC_FIELDS + ("encoder",)

    @dataclass
    class Args:
        categorical: list[int] = field(default_factory=lambda: [10])
        continuous: int = 2
        lambda_cat: float = 1.0
        lambda_cont: float = 1.0
        learn_std: bool = False

        def __post_init__(self) -> None:
            _check_options(self)

    def __init__(self, cfg, shape) -> None:
        super().__init__(cfg, shape)
        self.layout = CodeLayout(cfg.z_dim, tuple(self.args.categorical), self.args.continuous)
        self.G = build_from_spec(GENERATORS, cfg.generator, dataclasses.replace(shape, z_dim=self.layout.total),
                                 "generator")
        if getattr(self.G, "takes_labels", False):
            raise GanforgeError(f"model.generator {cfg.generator['name']!r} is conditional; "
                                f"family 'infogan' needs an unconditional generator")
        self.D = build_info_discriminator(cfg.discriminator, shape, self.layout.q_outputs(self.args.learn_std))
        self.loss = prepare_discriminator(self.D, cfg)
        self.out_range = self.G.out_range

    def trainable(self):
        return {"g": self.G, "d": self.D}

    def init_from_data(self, mean_image: torch.Tensor) -> None:
        self.G.init_output_bias(mean_image)

    def sample_latent(self, n: int, generator: torch.Generator | None = None,
                      device: torch.device | str | None = None) -> torch.Tensor:
        """[noise | one-hot codes | continuous codes] (n, total); the noise is drawn as the base class does."""
        noise = super().sample_latent(n, generator, device)
        cat, cont = self.layout.sample_codes(n, generator, noise.device)
        return self.layout.assemble(noise, cat, cont)

    def information(self, q: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted term lambda_cat * CE + lambda_cont * NLL (= -lambda L_I up to the constant H(c)) for
        Q's output q on images generated from latents z, and the statistics to log."""
        _, cat, cont = self.layout.split(z)
        terms = information_terms(q, cat, cont, self.layout, self.args.learn_std)
        loss = self.args.lambda_cat * terms.cat_nll + self.args.lambda_cont * terms.cont_nll
        stats = {"loss_info": loss.detach()}
        if self.layout.categorical:
            entropy = sum(math.log(k) for k in self.layout.categorical)  # H(c) of uniform categories
            stats.update(q_acc=terms.accuracy.detach(), mi_cat=(entropy - terms.cat_nll).detach())
        if self.layout.continuous:  # H(U(-1, 1)) = log 2 per code
            stats["mi_cont"] = (self.layout.continuous * math.log(2.0) - terms.cont_nll).detach()
        return loss, stats

    def d_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        """D maximises V(D, G) and, with Q, L_I: minimises the D loss + the information term."""
        z = self.sample_latent(batch.images.shape[0])
        with torch.no_grad(), self.autocast():
            fake = self.net("g")(z)
        with self.autocast():
            real_out, _ = self.net("d")(batch.images)
            fake_out, q = self.net("d")(fake)
        real_out, fake_out = real_out.float(), fake_out.float()
        adversarial = self.loss.d_loss(real_out, fake_out)
        info, _ = self.information(q, z)
        stats: dict[str, torch.Tensor] = {}
        adversarial = with_penalty(self, LogitOnly(self.net("d")), batch.images, fake, adversarial, stats)
        return update_discriminator(self, adversarial + info, adversarial, real_out, fake_out, opts, stats)

    def g_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        """G minimises the G loss + the information term; D, Q's head included, is held (the term's gradient
        reaches G through D's body and Q), so Q learns once per iteration, in :meth:`d_step`."""
        z = self.sample_latent(batch.images.shape[0])
        with self.d_held():
            with self.autocast():
                fake_out, q = self.net("d")(self.net("g")(z))
            adversarial = self.loss.g_loss(fake_out.float())
            info, stats = self.information(q, z)
            opts["g"].zero_grad(set_to_none=True)
            (adversarial + info).backward()
        opts["g"].step()
        return {"loss_g": adversarial.detach(), **stats}
