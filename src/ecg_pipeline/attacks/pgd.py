"""Projected gradient descent, L-inf: the one iterative gradient attack of the project.

Madry, Makelov, Schmidt, Tsipras & Vladu, "Towards Deep Learning Models Resistant to Adversarial
Attacks", ICLR 2018, eq. (2)::

    x^{t+1} = Pi_{x + S} ( x^t + alpha * sign(grad_x L(theta, x^t, y)) ),   S = {delta : ||delta||_inf <= eps}

started at ``x^0 = x + U(-eps, eps)`` (projected), optionally restarted from several random points.
Pi also clips into the domain ``bounds`` and collapses the ball to ``x`` where ``mask`` is 0.

The other sign-gradient attacks are this function with named settings, not copies of it:

- FGSM (:mod:`.fgsm`): one step of size eps from ``x`` (Goodfellow et al., 2015, eq. 3);
- BIM (:mod:`.bim`): no random start (Kurakin et al., 2017, eq. 1) - exactly PGD with
  ``random_start=False``, since BIM's ``Clip_{x,eps}`` is the same projection;
- CW L-inf (:mod:`.cw`): ``loss="cw"``, the margin loss of Carlini & Wagner (2017, f_6) with
  confidence ``kappa``, ascended by the same sign steps (the "PGD on the CW loss" of Madry et al.'s
  MNIST challenge and Croce & Hein 2020);
- the NSR papers' MIT-BIH "100-PGD" (Ma & Liang, "A Regularization Method to Improve Adversarial
  Robustness of Neural Networks for ECG Signal Classification", seed 001: the evaluation code its
  Data Availability section links, github.com/SarielMa): ``variant="nsr_adamax"``, exposed as
  :func:`pgd_nsr`.

Speed (an attack runs 100+ forward/backward passes per batch): the weights are frozen (no parameter
gradients), ``torch.autograd.grad`` is taken w.r.t. the input only with no retained graph, the loss is
summed (its sign step is invariant to a positive scale, so no rescaling), the step and projection are
two in-place ops on a precomputed feasible box (:func:`~.base.feasible_box`), and predictions used for
bookkeeping run under ``torch.inference_mode``.

What is returned (every sign-ascent attack: pgd, bim, fgsm, cw_linf, sap's warm start): per sample the
STRONGEST iterate of ``x^0 .. x^T``, i.e. the first one that is misclassified, else the one with the
highest loss - not the last iterate of the textbook loop (which can be weaker than an earlier one when
the loss oscillates). The prediction and loss of ``x^t`` come with its gradient, so this costs one
extra forward pass (for ``x^T``). A misclassified sample has its answer and leaves the working batch;
so does a sample whose iterate repeats (``x^t == x^{t-p}``, p <= ``cycle_check``): the map
``x^t -> x^{t+1}`` is deterministic per sample, so its later iterates repeat ones already evaluated and
its best is final. Both are exact as long as the model's output for a sample does not depend on which
other samples share its batch (true in eval mode, up to float re-association inside BLAS/oneDNN
kernels); ``cycle_check=0`` switches the cycle test off. (There is no ``early_stop`` switch: returning
the first misclassified iterate is always on.)

``confidence`` (logits) moves the finishing line, for transfer studies (crafted on a source model, applied to
another): a sample is finished once ``max_{j != y} z_j - z_y >= confidence`` (0: misclassified at all, the rule
above, bit for bit); until then the kept iterate is the strongest by (misclassified, loss). ``inf`` (YAML
``.inf``) is never reached: every step runs, the strongest iterate of the path is returned. Why: the first
misclassified iterate sits just across the source's boundary and transfers badly; "high-confidence" examples
transfer far better (Carlini & Wagner, IEEE S&P 2017, section VIII-D, their kappa; Papernot, McDaniel &
Goodfellow, arXiv:1605.07277, 2016). With ``loss="cw"`` the confidence is C&W's kappa: the hinge of f_6 is raised
to it, and ``inf`` drops it (ascends the margin). Cycle check and compaction stay exact (a finished best is final).
(Over 400 lines: the selection rule every sign-ascent attack shares lives beside the loop it must match.)
"""

from __future__ import annotations

import torch
from torch import nn

from ecg_pipeline.models import logits_of

from .base import AttackError, Bounds, check_attack_call, feasible_box, frozen, margin, per_row, register_attack
from .losses import HEAD_LOSSES, LOSSES, LossFn, loss_per_sample

VARIANTS = ("sign", "nsr_adamax")

#: Fraction of the working batch that must have finished before the batch is compacted (compacting
#: on every single finished sample would give the convolution backend a new batch shape each step).
_COMPACT_FRACTION = 1 / 16


def _int_param(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AttackError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _confidence_check(value) -> str | None:
    """None if ``value`` is a valid ``confidence`` (a number >= 0, ``inf`` allowed), else what was expected: the
    declaration's check (registry.check_attack_params) and the attacks' own."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    return None if ok else "a number >= 0 or .inf (a misclassification margin in logits; .inf: every step)"


def confidence_param(value) -> float:
    """``confidence`` as a float, or an error naming it."""
    expected = _confidence_check(value)
    if expected:
        raise AttackError(f"confidence must be {expected}, got {value!r}")
    return float(value)


def ascended_loss(loss: str, kappa: float, confidence: float) -> LossFn:
    """The per-sample loss to ascend; for ``loss="cw"`` the hinge is raised to ``confidence`` when that is larger
    than ``kappa`` (Carlini & Wagner's kappa IS the confidence), and dropped for ``inf``: ``-margin``, the
    misclassification margin ``max_{j != y} z_j - z_y`` itself."""
    if loss == "cw" and confidence > kappa:
        if confidence == float("inf"):
            return lambda logits, y: -margin(logits, y)
        kappa = confidence
    return loss_per_sample(loss, kappa)


def stronger_iterate(logits, values, y, live, kept_value, kept_fooled, confidence: float):
    """Per working row: (finished, stronger, misclassified) for the current iterate (``logits``, ``values``)
    against the kept one (``kept_value``, ``kept_fooled``); ``live``: rows still running.

    finished: misclassified by a margin >= ``confidence`` (0: misclassified at all); stronger: finished, or
    ranked above the kept iterate by (misclassified, loss). At confidence 0 a live row never keeps a misclassified
    iterate (it would be finished), so this is the rule "first misclassified, else highest loss" exactly."""
    fooled = (logits.argmax(dim=1) != y) & live
    finished = fooled if confidence == 0 else fooled & (-margin(logits, y) >= confidence)
    ranked_above = (fooled & ~kept_fooled) | ((fooled == kept_fooled) & (values > kept_value))
    return finished, finished | (live & ranked_above), fooled


def _input_grad(model: nn.Module, xa: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None, loss_fn: LossFn):
    """d loss / d input for a leaf ``xa`` (``loss_fn`` per sample, summed for the gradient); returns
    (gradient, detached logits, detached per-sample loss)."""
    with torch.enable_grad():
        logits, values = _forward_loss(model, xa, y, mask, loss_fn)
        (grad,) = torch.autograd.grad(values.sum(), xa)
    return grad, logits.detach(), values.detach()


def _forward_loss(model: nn.Module, xa: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None, loss_fn: LossFn):
    """(logits, per-sample loss) at ``xa``; a loss on the heads of a three-head discriminator
    (:class:`~.losses.HeadsLoss`, e.g. ``loss="evasion"``) gets ``model.heads(xa)`` and the logits are its
    arrhythmia head (what is predicted, so "misclassified" keeps its meaning)."""
    if getattr(loss_fn, "on_heads", False):
        heads = model.heads(xa)
        return heads.arrhythmia, loss_fn(heads, y)
    logits = logits_of(model, xa, mask)
    return logits, loss_fn(logits, y)


def _sign_ascent(
    model: nn.Module,
    x0: torch.Tensor,
    y: torch.Tensor,
    low: torch.Tensor,
    high: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    steps: int,
    step: float,
    loss_fn: LossFn,
    cycle_check: int,
    confidence: float = 0.0,
) -> torch.Tensor:
    """``steps`` projected sign steps from ``x0`` (already feasible) ascending the per-sample
    ``loss_fn``; returns per sample the strongest iterate of ``x^0 .. x^steps``: the first one that is
    misclassified (by a margin >= ``confidence``: :func:`stronger_iterate`), else the one with the highest loss.

    The prediction and loss of ``x^t`` come with its gradient (one forward/backward); only ``x^steps``
    needs an extra forward pass. A misclassified sample has its answer and leaves the working batch;
    so does a sample on a cycle (``x^t == x^{t-p}``, p <= ``cycle_check``): its later iterates repeat
    ones already evaluated, so its best is final (exact as long as a sample's output does not depend
    on the other samples in its batch, see the module docstring).
    """
    period = cycle_check
    xa = x0.clone().requires_grad_(True)
    out = x0.clone()
    best = torch.full((x0.shape[0],), float("-inf"), dtype=x0.dtype, device=x0.device)
    best_fooled = torch.zeros(x0.shape[0], dtype=torch.bool, device=x0.device)
    rows = torch.arange(x0.shape[0], device=x0.device)  # global row of each working row
    live = torch.ones(x0.shape[0], dtype=torch.bool, device=x0.device)  # working rows not yet finished
    ring = x0.new_empty((period, *x0.shape)) if period else None  # ring[s % period] = x^s, last `period` s
    for t in range(steps + 1):
        if t < steps:
            grad, logits, values = _input_grad(model, xa, y, mask, loss_fn)
        else:
            with torch.no_grad():
                logits, values = _forward_loss(model, xa, y, mask, loss_fn)
        with torch.no_grad():
            finished, better, fooled = stronger_iterate(logits, values, y, live, best[rows], best_fooled[rows],
                                                        confidence)
            if bool(better.any()):
                hit = better.nonzero().squeeze(1)
                out[rows[hit]] = xa[hit]
                best[rows[hit]] = values[hit]
                best_fooled[rows[hit]] = fooled[hit]
            if t == steps:
                break
            found = finished
            if period:
                ring[t % period].copy_(xa)
            xa.add_(grad.sign_(), alpha=step).clamp_(low, high)
            if period:
                flat = xa.flatten(1)
                for p in range(1, min(period, t + 1) + 1):
                    found = found | ((flat == ring[(t + 1 - p) % period].flatten(1)).all(dim=1) & live)
            if not bool(found.any()):
                continue
            live &= ~found
            n_live = int(live.sum())
            if n_live == 0:
                return out
            if live.numel() - n_live >= max(1, int(live.numel() * _COMPACT_FRACTION)):
                keep = live.nonzero().squeeze(1)
                xa = xa.detach()[keep].requires_grad_(True)
                ring = None if ring is None else ring[:, keep]
                low, high, y, rows = low[keep], high[keep], y[keep], rows[keep]
                mask = None if mask is None else mask[keep]
                live = torch.ones(keep.numel(), dtype=torch.bool, device=live.device)
    return out


def _nsr_adamax(
    model: nn.Module,
    x: torch.Tensor,
    x0: torch.Tensor,
    y: torch.Tensor,
    low: torch.Tensor,
    high: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    steps: int,
    step: float,
    loss_fn: LossFn,
) -> torch.Tensor:
    """The NSR code's 100-PGD: Adamax on the noise driven by -sign(grad), per-sample stop on a flip.

    Only the samples still classified correctly are forwarded (the per-sample Adamax state makes that
    exact); a clean-misclassified sample is returned unchanged, so it counts as wrong.
    """
    with torch.inference_mode():
        clean_ok = logits_of(model, x, mask).argmax(dim=1) == y
    clean_ok = clean_ok.clone()
    x_adv = torch.where(per_row(clean_ok, x), x0, x.clamp(low, high))
    noise = x0 - x
    noise.grad = torch.zeros_like(noise)
    opt = torch.optim.Adamax([noise], lr=step)
    active = clean_ok.nonzero().squeeze(1)
    for _ in range(steps):
        if active.numel() == 0:
            break
        xa = x_adv[active].requires_grad_(True)
        grad, logits, _ = _input_grad(model, xa, y[active], None if mask is None else mask[active], loss_fn)
        with torch.no_grad():
            still = logits.argmax(dim=1) == y[active]  # prediction at the current iterate, as coded
            noise.grad.zero_()
            noise.grad[active] = grad.sign_().neg_()  # descend -sign(grad) = ascend the loss
            opt.step()
            moved = (x + noise).clamp_(low, high)  # eps-ball, mask and domain
            noise.copy_(moved - x)
            active = active[still]
            x_adv[active] = moved[active]
    return x_adv


def _one_run(
    model, x, y, low, high, mask, gen, *, eps, steps, step, random_start, variant, loss_fn, cycle_check, confidence
) -> torch.Tensor:
    if random_start:
        x0 = torch.empty_like(x).uniform_(-eps, eps, generator=gen).add_(x).clamp_(low, high)
    else:
        x0 = x.clamp(low, high)
    if variant == "nsr_adamax":
        return _nsr_adamax(model, x, x0, y, low, high, mask, steps=steps, step=step, loss_fn=loss_fn)
    return _sign_ascent(model, x0, y, low, high, mask, steps=steps, step=step, loss_fn=loss_fn, cycle_check=cycle_check,
                        confidence=confidence)


@register_attack("pgd", effort_keys=("steps", "restarts"))
def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    seed: int = 0,
    steps: int = 40,
    step_size: float | None = None,
    step_ratio: float | None = None,
    random_start: bool = True,
    restarts: int = 1,
    variant: str = "sign",
    loss: str = "ce",
    kappa: float = 0.0,
    cycle_check: int = 8,
    confidence: float = 0.0,
) -> torch.Tensor:
    """L-inf PGD (Madry et al., 2018, eq. 2) on the whole batch ``x``; returns ``x_adv``.

    Args:
        steps: iterations (Madry et al. used 40 on MNIST; the NSR evaluation uses 100).
        step_size: alpha; default ``2.5 * eps / steps``, the rule of Madry et al.'s ``robustness``
            library (the iterate can cross the ball and come back). The NSR papers use 0.01 at every eps.
        step_ratio: alpha as a fraction of eps, ``alpha = step_ratio * eps`` (instead of ``step_size``):
            seed 001's CPSC 2018 code steps eps / 10 in evaluation (``step_ratio=0.1``) and 4 eps_t / 20 in
            its 20-step adversarial training (``step_ratio=0.2``, following the eps ramp of eq. 11).
        random_start: start at ``x + U(-eps, eps)``, projected (Madry et al.); else at ``x`` (= BIM).
        restarts: independent random starts; per sample the first restart that finishes (see ``confidence``) is
            kept, otherwise the strongest by (misclassified, loss). Only still-correct samples are restarted.
        variant: ``"sign"`` (the paper's update) or ``"nsr_adamax"`` (the NSR code's 100-PGD, see
            :func:`pgd_nsr`).
        loss: ``"ce"`` (cross-entropy) or ``"cw"`` (Carlini-Wagner margin with confidence ``kappa``).
        cycle_check: detect per-sample cycles of period up to this and finish those samples early
            (exact, see the module docstring); 0 disables it.
        confidence: a sample is finished once misclassified by this margin in logits (0: at all, the white-box
            worst case; ``inf``: never, every step runs: the full-confidence examples of transfer studies; see
            the module docstring). The sign variant only.

    Deterministic for a ``seed`` (a local ``torch.Generator``); the model's weights, ``requires_grad``
    flags and train/eval mode are left as found (``frozen``). All checks run before any attack compute.
    """
    confidence = confidence_param(confidence)
    check_attack_call(model, x, y, eps, mask=mask, bounds=bounds, step_size=step_size, step_ratio=step_ratio)
    if step_size is not None and step_ratio is not None:
        raise AttackError(f"give step_size ({step_size}) or step_ratio ({step_ratio}), not both")
    steps = _int_param("steps", steps, 1)
    restarts = _int_param("restarts", restarts, 1)
    cycle_check = _int_param("cycle_check", cycle_check, 0)
    if variant not in VARIANTS:
        raise AttackError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if loss not in LOSSES + HEAD_LOSSES:
        raise AttackError(f"loss must be one of {LOSSES + HEAD_LOSSES}, got {loss!r}")
    if loss in HEAD_LOSSES and (variant != "sign" or not callable(getattr(model, "heads", None))):
        raise AttackError(f"loss {loss!r} is a loss on the heads of a three-head discriminator (model.heads(x)) with "
                          f"the sign variant; got {type(model).__name__} with variant {variant!r}")
    if not float(kappa) >= 0 or float(kappa) == float("inf"):
        raise AttackError(f"kappa must be a finite number >= 0, got {kappa}")
    if confidence and variant != "sign":
        raise AttackError(f"confidence {confidence} needs the sign variant: {variant!r} stops on the first flip, as "
                          "its paper's code does")
    if restarts > 1 and not random_start:
        raise AttackError("restarts > 1 needs random_start=True (every restart would be the same run)")
    eps = float(eps)
    x = x.detach()
    y = y.detach().long()
    mask = None if mask is None else mask.detach()
    low, high = feasible_box(x, eps, mask, bounds)
    if eps == 0 or x.shape[0] == 0:
        return x.clamp(low, high)
    step = float(step_size) if step_size is not None else eps * (2.5 / steps if step_ratio is None else float(step_ratio))
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    loss_fn = ascended_loss(loss, float(kappa), confidence)
    settings = dict(
        eps=eps, steps=steps, step=step, random_start=bool(random_start), variant=variant, loss_fn=loss_fn,
        cycle_check=cycle_check, confidence=confidence,
    )

    with frozen(model):
        if restarts == 1:
            return _one_run(model, x, y, low, high, mask, gen, **settings)
        result = torch.empty_like(x)
        best = torch.full((x.shape[0],), float("-inf"), dtype=x.dtype, device=x.device)
        best_fooled = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        rows = torch.arange(x.shape[0], device=x.device)
        for _ in range(restarts):
            sub_mask = None if mask is None else mask[rows]
            x_r = _one_run(model, x[rows], y[rows], low[rows], high[rows], sub_mask, gen, **settings)
            with torch.inference_mode():
                logits, value = _forward_loss(model, x_r, y[rows], sub_mask, loss_fn)
            logits, value = logits.clone(), value.clone()
            everyone = torch.ones(rows.numel(), dtype=torch.bool, device=x.device)
            finished, take, fooled = stronger_iterate(logits, value, y[rows], everyone, best[rows], best_fooled[rows],
                                                      confidence)
            result[rows[take]] = x_r[take]
            best[rows[take]] = value[take]
            best_fooled[rows[take]] = fooled[take]
            rows = rows[~finished]
            if rows.numel() == 0:
                break
        return result


@register_attack("pgd_nsr", effort_keys=("steps", "restarts"))  # the NSR paper's MIT-BIH "100-PGD"
def pgd_nsr(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = (0.0, 1.0),
    seed: int = 0,
    steps: int = 100,
    step_size: float = 0.01,
    restarts: int = 1,
    loss: str = "ce",
) -> torch.Tensor:
    """The NSR papers' MIT-BIH "100-PGD" (Ma & Liang, seed 001: the paper's MIT-BIH evaluation as its
    published code runs it, ``pgd_attack`` with ``use_optimizer=True, stop_if_label_change=True``):

    - the noise starts uniform in ``[-eps, eps]`` and is updated by ``torch.optim.Adamax(lr=step_size)``
      whose gradient is ``-sign(grad_x CE)`` (so it ascends the loss), then clipped to ``+-eps`` and to
      the domain (``bounds``, default ``[0, 1]`` as coded);
    - a sample stops updating as soon as its prediction flips (checked at the current iterate before
      each update, as coded), so it stays flipped;
    - a sample misclassified clean is never attacked and is returned as ``x``: it counts as wrong.

    Defaults: 100 steps of 0.01 at every eps (the paper's evaluation). One deviation: the random start
    is projected into the domain before the first forward pass (the code projects after the first step).
    This is :func:`pgd` with ``variant="nsr_adamax", random_start=True``.
    """
    return pgd(
        model, x, y, eps, mask=mask, bounds=bounds, seed=seed, steps=steps, step_size=step_size,
        random_start=True, restarts=restarts, variant="nsr_adamax", loss=loss,
    )


# ---- hyper-parameter checks the declaration runs before any node (registry.check_attack_params) -----------------
from .base import declare_params, flag, integer, number, one_of, retire_params  # noqa: E402

declare_params(
    pgd,
    lambda p: ("give step_size or step_ratio, not both" if p.get("step_size") is not None
               and p.get("step_ratio") is not None else None),
    lambda p: ("restarts > 1 needs random_start: true (every restart would be the same run)"
               if p.get("restarts", 1) > 1 and not p.get("random_start", True) else None),
    lambda p: ("confidence needs variant: sign (nsr_adamax stops on the first flip, as its paper's code does)"
               if p.get("confidence", 0) and p.get("variant", "sign") != "sign" else None),
    steps=integer(1), step_size=number(above=0, none=True), step_ratio=number(above=0, none=True),
    random_start=flag(), restarts=integer(1), variant=one_of(*VARIANTS), loss=one_of(*LOSSES, *HEAD_LOSSES),
    kappa=number(at_least=0), cycle_check=integer(0), confidence=_confidence_check,
)
retire_params(pgd, early_stop="pgd always returns each sample's first misclassified iterate (what "
              "early_stop: true did), so the key changed nothing; delete it")
declare_params(pgd_nsr, steps=integer(1), step_size=number(above=0), restarts=integer(1),
               loss=one_of(*LOSSES, *HEAD_LOSSES))
