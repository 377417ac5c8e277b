"""ECG-ATK-GAN training (seed 002 section 2.2): the losses of eqs. (1)-(5), one definition each, and the
objective that trains generator and discriminator in alternating steps inside the one trainer.

The trainer owns the discriminator (its ``model``: the deployed classifier, whose arrhythmia accuracy on
the validation set selects the epoch) and its optimizer; this objective owns the generator and the
generator's optimizer (same optimizer settings, built by the trainer through :meth:`AtkGan.bind`), and keeps
both in the checkpoint through ``state_dict``. Each batch: one generator step against the current
discriminator, then the discriminator's loss on the real batch and the (detached) generated one, which
the trainer steps.

Eq. (4) scores ``D(E'_x, E_y)``: with a ``conditioned`` discriminator (model option; projection, Miyato & Koyama
2018 eq. 3, ecg_pipeline.models.atk_gan) its real/fake score takes the true label of each real beat and, for a
generated beat, the label the generator was given (the same ``y``: G is asked for the class of its input). An
unconditioned discriminator scores ``D(E'_x)``, as every run before the option.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import build_model
from ecg_pipeline.models.registry import config_keys

from .objective_base import Objective
from .optimisation import TrainingDiverged, descend

PAPER_KAPPA = (1.0, 1.05)     # section 3: kappa = [1, 1.05] (clean, attacked)
PAPER_LAMBDAS = {"lambda_atk": 10.0, "lambda_ary": 10.0, "lambda_mse": 1.0}


def attack_loss(attack_logits: torch.Tensor, attacked: torch.Tensor, kappa: Sequence[float]) -> torch.Tensor:
    """Class-weighted cross-entropy of the attacked/clean head, seed 002 eq. (1):
    ``L_atk = -sum_i kappa^i E_y^i log E_y'^i`` over the m = 2 classes (0 clean, 1 attacked), i.e. per beat
    ``kappa[t] * CE`` for its true class t, averaged over the batch (the per-sample sum of eq. (1), reduced
    by the mean as Keras' weighted loss does, not by the sum of the weights)."""
    target = attacked.long()
    weights = torch.as_tensor(kappa, dtype=attack_logits.dtype, device=attack_logits.device)[target]
    return (weights * F.cross_entropy(attack_logits, target, reduction="none")).mean()


def arrhythmia_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Categorical cross-entropy of the arrhythmia head, seed 002 eq. (2), mean over the batch."""
    return F.cross_entropy(logits, y)


def reconstruction_loss(generated: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Mean squared error of G(E'_x, E_y, z) to the clean beat E_x, seed 002 eq. (3)."""
    return F.mse_loss(generated, clean.reshape(generated.shape))


def discriminator_adversarial_loss(score_real: torch.Tensor, score_generated: torch.Tensor) -> torch.Tensor:
    """Least-squares adversarial loss of the discriminator, seed 002 eq. (4):
    ``(D(E'_x, E_y) - 1)^2 + (D(G(E'_x, E_y, z), E_y) + 1)^2``, each term averaged over the batch. The scores
    come in computed: label-conditioned or not is the discriminator's option (:func:`real_fake_labels`)."""
    return ((score_real - 1) ** 2).mean() + ((score_generated + 1) ** 2).mean()


def generator_adversarial_loss(score_generated: torch.Tensor) -> torch.Tensor:
    """The generator's side of eq. (4) (seed 002 cites LSGAN, Mao et al. 2017, eq. 2 with c = 1): G wants its
    beats scored as real, ``(D(G(E'_x, E_y, z), E_y) - 1)^2``, averaged over the batch."""
    return ((score_generated - 1) ** 2).mean()


def combined_loss(adversarial: torch.Tensor, *, mse: torch.Tensor | float = 0.0, atk: torch.Tensor | float = 0.0,
                  ary: torch.Tensor | float = 0.0, lambda_mse: float, lambda_atk: float, lambda_ary: float) -> torch.Tensor:
    """Seed 002 eq. (5): ``L_adv + lambda_mse L_mse + lambda_atk L_atk + lambda_ary L_ary``. Each player
    minimises the terms that depend on it: the generator its adversarial term and L_mse, the discriminator
    eq. (4) and the two classification losses (the terms a player cannot change are left at 0)."""
    return adversarial + lambda_mse * mse + lambda_atk * atk + lambda_ary * ary


def real_fake_labels(model: nn.Module, y: torch.Tensor) -> torch.Tensor | None:
    """What the real/fake score of eq. (4) is given as ``E_y``: the labels ``y`` for a ``conditioned``
    discriminator (projection, Miyato & Koyama 2018 eq. 3), None (the label-free ``D(E'_x)``) otherwise."""
    return y if getattr(model, "conditioned", False) else None


def check_kappa(kappa) -> tuple[float, float]:
    """kappa of eq. (1): one non-negative weight per attack class (clean, attacked)."""
    try:
        values = tuple(float(k) for k in kappa)
    except (TypeError, ValueError):
        values = None
    if values is None or len(values) != 2 or any(not k >= 0 for k in values) or not any(values):
        raise EcgDataError(f"kappa must be 2 weights >= 0 (clean, attacked; the paper's [1, 1.05]), got {kappa!r}",
                           key="kappa")
    return values


class AtkGan(Objective):
    """The ECG-ATK-GAN objective (eqs. 1-5) for the trainer; ``model`` is the three-head discriminator.

    Args:
        generator: the generator's registry config (``{name: atk_gan_generator, ...}``); ``input_length`` and
            ``n_classes`` default to the discriminator's.
        kappa: eq. (1)'s class weights (clean, attacked); lambda_*: eq. (5)'s weights, each >= 0.

    The training set must hold ``x_clean`` (E_x, the target of eq. 3) and ``attacked`` (the target of
    eq. 1) beside ``x`` (E'_x) and ``y``: :attr:`extras` names them for the trainer's batches.
    """

    name = "atk_gan"
    extras = ("x_clean", "attacked")       # arrays each training batch carries besides x and y
    companions = ("generator",)            # the models it trains besides the trainer's

    def __init__(self, generator: dict | None = None, kappa: Sequence[float] = PAPER_KAPPA,
                 lambda_atk: float = PAPER_LAMBDAS["lambda_atk"], lambda_ary: float = PAPER_LAMBDAS["lambda_ary"],
                 lambda_mse: float = PAPER_LAMBDAS["lambda_mse"]):
        self.kappa = check_kappa(kappa)
        self.lambdas = {}
        for key, value in (("lambda_atk", lambda_atk), ("lambda_ary", lambda_ary), ("lambda_mse", lambda_mse)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise EcgDataError(f"{key} (a weight of eq. 5) must be a number >= 0, got {value!r}", key=key)
            self.lambdas[key] = float(value)
        config = dict(generator or {})
        config.setdefault("name", "atk_gan_generator")
        unknown = sorted(set(config) - {"name"} - set(config_keys(config["name"])))
        if unknown:
            raise EcgDataError(f"generator: unknown key(s) {unknown} for model {config['name']!r}", key="generator")
        self.generator_config = config
        self.generator: nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None

    def bind(self, model: nn.Module, device: torch.device, make_optimizer: Callable) -> None:
        """Build the generator beside ``model`` (the discriminator) on ``device``, with its own optimizer."""
        if not callable(getattr(model, "heads", None)):
            raise EcgDataError(f"objective atk_gan trains a three-head discriminator (atk_gan_discriminator or "
                               f"atk_gan_discriminator_code) as the run's model; got {type(model).__name__}", key="name")
        config = dict(self.generator_config)
        name = config.pop("name")
        for key in ("input_length", "n_classes"):
            if key in getattr(model, "model_config", {}):
                config.setdefault(key, model.model_config[key])
        self.generator = build_model(name, **config).to(device)
        self.optimizer = make_optimizer(self.generator.parameters())

    def companion_models(self) -> dict[str, nn.Module]:
        return {"generator": self.generator}

    def state_dict(self) -> dict:
        return copy.deepcopy({"generator": self.generator.state_dict(), "optimizer": self.optimizer.state_dict()})

    def load_state_dict(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.optimizer.load_state_dict(state["optimizer"])

    def __call__(self, model, x, y, mask, epoch, extra: dict[str, torch.Tensor] | None = None):
        generated, g_stats = self.generator_step(model, x, y, extra["x_clean"], epoch)
        loss, logits, d_stats = self.discriminator_loss(model, x, y, extra["attacked"], generated)
        return loss, logits, {**d_stats, **g_stats}

    def generator_step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_clean: torch.Tensor,
                       epoch: int = 0) -> tuple[torch.Tensor, dict[str, float]]:
        """One optimiser step of the generator against the discriminator ``model`` as it stands: its side of
        eq. (5), the least-squares term and lambda_mse times eq. (3). Returns G(E'_x, E_y, z) (detached)."""
        generator = self.generator.train()
        generated = generator(x, y)
        g_adv = generator_adversarial_loss(model.heads(generated, real_fake_labels(model, y)).real_fake)
        mse = reconstruction_loss(generated, x_clean)
        g_loss = combined_loss(g_adv, mse=mse, **self.lambdas)
        if not torch.isfinite(g_loss):
            raise TrainingDiverged(f"atk_gan: generator loss is {g_loss.item()} at epoch {epoch}")
        descend(g_loss, self.optimizer, [p for p in generator.parameters() if p.requires_grad])
        return generated.detach(), {"g_adv": g_adv.item(), "g_loss": g_loss.item(), "mse": mse.item()}

    def discriminator_loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, attacked: torch.Tensor,
                           generated: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        """The discriminator's side of eq. (5) on the real batch E'_x and the generated one: eq. (4) plus
        lambda_atk times eq. (1) and lambda_ary times eq. (2); the caller (the trainer) steps it. Both
        real/fake scores take ``y`` where the discriminator is conditioned (the generated beats were asked for
        the labels ``y``)."""
        labels = real_fake_labels(model, y)
        real = model.heads(x, labels)
        d_adv = discriminator_adversarial_loss(real.real_fake, model.heads(generated, labels).real_fake)
        atk = attack_loss(real.attack, attacked, self.kappa)
        ary = arrhythmia_loss(real.arrhythmia, y)
        loss = combined_loss(d_adv, atk=atk, ary=ary, **self.lambdas)
        detected = (real.attack.detach().argmax(1) == attacked.long()).float().mean().item()
        return loss, real.arrhythmia, {"d_adv": d_adv.item(), "atk": atk.item(), "ary": ary.item(),
                                       "attack_accuracy": detected}
