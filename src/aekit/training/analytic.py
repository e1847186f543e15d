"""The training step's gradients in closed form, without autograd, for the dense models that allow it.

For a chain of Linear layers with relu, sigmoid, tanh or linear activations (what `aekit.models` builds for a dense,
deterministic model), a BCE (sigmoid output, through the logits) or MSE reconstruction loss and the penalties with a
simple derivative (L1 activity, KL sparsity, weight decay), one step's gradients are a handful of fused operations per
layer: the forward products (``addmm``), the loss, its gradient at the output (``(sigmoid(z) - x) / n`` for BCE), and
per layer two products and a bias sum, with the activation's derivative taken from its output. That is what autograd
computes, in the same products, without its graph and bookkeeping (~0.6× the step's time on the tutorial model).

`gradient_step(model, cfg)` returns the step for a model and config it supports (``(x_in, target) -> loss terms``,
the terms of `aekit.objectives.loss_terms` with each parameter's ``.grad`` filled), or None; `unsupported` says why
not. `fit` uses it unless ``TrainConfig(analytic_grad=False)``; everything else (contractive, variational, conv, VQ,
bfloat16, compile, torchrun) takes autograd's step.

>>> import torch, aekit
>>> model = aekit.Autoencoder(aekit.ModelConfig(input_dim=6, encoding_dim=2))
>>> step = gradient_step(model, aekit.TrainConfig())
>>> x = torch.rand(4, 6)
>>> terms = step(x, x)
>>> manual = aekit.objectives.loss_terms(model, x, x, aekit.TrainConfig())["loss"]
>>> torch.allclose(terms["loss"], manual), model.encoder[0].weight.grad.shape
(True, torch.Size([2, 6]))
>>> unsupported(model, aekit.TrainConfig(contractive=0.1))
'the contractive penalty'
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from aekit.config import TrainConfig
from aekit.latents import DeterministicCode
from aekit.models import Autoencoder
from aekit.objectives import bce_and_sigmoid

_aten = torch.ops.aten

# d(loss)/d(pre-activation) from d(loss)/d(output) and the output, written over d(loss)/d(output) (a buffer the step
# keeps): the kernels autograd itself runs, in their out= form
_BACKWARD: dict[type, Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None] = {
    nn.ReLU: lambda grad, out: _aten.threshold_backward.grad_input(grad, out, 0, grad_input=grad),
    nn.Sigmoid: lambda grad, out: _aten.sigmoid_backward.grad_input(grad, out, grad_input=grad),
    nn.Tanh: lambda grad, out: _aten.tanh_backward.grad_input(grad, out, grad_input=grad),
    nn.Identity: None,  # the gradient passes as it is
}
_FORWARD: dict[type, Callable[[torch.Tensor], torch.Tensor] | None] = {
    nn.ReLU: torch.relu_,
    nn.Sigmoid: torch.sigmoid_,
    nn.Tanh: torch.tanh_,
    nn.Identity: None,
}


# the methods through which `loss_terms` runs the model: a subclass that overrides one trains by autograd
_FORWARD_PASS = ("forward", "reconstruct_net", "decode_net", "decode_logits", "scale_rows", "encode_rows")


def _layers(stack: nn.Module) -> list[tuple[nn.Linear, type]] | None:
    """[(Linear, activation type)] of a Sequential of Linear + supported activation pairs, else None."""
    if type(stack) is not nn.Sequential or len(stack) % 2:
        return None
    mods = list(stack)
    pairs = list(zip(mods[0::2], mods[1::2]))
    if all(type(lin) is nn.Linear and lin.bias is not None and type(act) in _FORWARD for lin, act in pairs):
        return [(lin, type(act)) for lin, act in pairs]
    return None


def unsupported(model: nn.Module, cfg: TrainConfig, world_size: int = 1) -> str | None:
    """Why `model` trained with `cfg` needs autograd's step (a short phrase), or None when `gradient_step` applies."""
    mc = model.config
    checks = (
        (not cfg.analytic_grad, "analytic_grad=False"),
        (cfg.compile, "compile=True"),
        (cfg.precision != "float32", f"precision={cfg.precision!r}"),
        (world_size > 1, "several processes (torchrun)"),
        (getattr(mc, "architecture", "dense") != "dense", "a conv architecture"),
        (type(getattr(model, "latent", None)) is not DeterministicCode, f"the {mc.code} code"),
        (cfg.likelihood is not None or cfg.binarize != "none", "a likelihood or binarised input"),
        (cfg.contractive != 0, "the contractive penalty"),
        (cfg.loss == "bce" and mc.output_activation != "sigmoid", "BCE on a non-sigmoid output"),
    )
    reason = next((why for bad, why in checks if bad), None)
    if reason is not None:
        return reason
    if any(getattr(type(model), name) is not getattr(Autoencoder, name) for name in _FORWARD_PASS):
        return "a model class with its own forward pass"
    enc, dec = _layers(model.encoder), _layers(model.decoder)
    if enc is None or dec is None:
        return "layers other than Linear with relu, sigmoid, tanh or linear activations"
    linear = [lin for lin, _ in enc + dec]
    params = list(model.parameters())
    own = [p for lin in linear for p in (lin.weight, lin.bias)]
    if len(params) != len(own) or {id(p) for p in params} != {id(p) for p in own}:
        return "parameters outside the Linear layers"
    if not all(p.requires_grad and p.dtype == torch.float32 for p in params):
        return "frozen or non-float32 parameters"
    if any(p._backward_hooks or getattr(p, "_post_accumulate_grad_hooks", None) for p in params) or any(
        m._forward_hooks or m._forward_pre_hooks or m._backward_hooks for m in model.modules()
    ):
        return "hooks on the model"
    return None


def gradient_step(model: nn.Module, cfg: TrainConfig, world_size: int = 1):
    """``step(x_in, target) -> loss terms`` (those of `loss_terms`, detached) that fills each parameter's ``.grad``
    (into buffers kept from step to step) in closed form, or None where `unsupported` gives a reason."""
    if unsupported(model, cfg, world_size) is not None:
        return None
    layers = _layers(model.encoder) + _layers(model.decoder)
    code_at = len(_layers(model.encoder)) - 1  # the layer whose output is the code
    last = len(layers) - 1
    bce, l1, kl_beta, rho, wd = cfg.loss == "bce", cfg.l1, cfg.kl_beta, cfg.kl_rho, cfg.weight_decay
    # per layer, looked up once (a module's attribute lookup costs more than the call it feeds):
    weights, biases = [lin.weight for lin, _ in layers], [lin.bias for lin, _ in layers]
    forward = [None if i == last and bce else _FORWARD[act] for i, (_, act) in enumerate(layers)]  # BCE: the logits
    backward = [_BACKWARD[act] for _, act in layers]
    params = [p for pair in zip(weights, biases) for p in pair]
    grads: list[torch.Tensor] = []
    # buffers kept from step to step, per batch size (no fresh memory taken at every step): each layer's output,
    # d(loss)/d(its input), the loss's scratch; the ones of the bias sums
    kept: dict[tuple, torch.Tensor] = {}

    def buffer(name: tuple, rows: int, cols: int) -> torch.Tensor:
        """The kept (rows, cols) buffer `name`, made on first use; its values are the caller's to overwrite."""
        key = (*name, rows, cols)
        buf = kept.get(key)
        if buf is None:
            buf = kept[key] = weights[0].new_empty(rows, cols)
        return buf

    @torch.no_grad()
    def step(x_in: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        if not grads or grads[0].device != params[0].device:  # views of one buffer: the optimizer steps it at once
            flat = torch.empty(sum(p.numel() for p in params), dtype=params[0].dtype, device=params[0].device)
            grads[:] = [view.view_as(p) for view, p in zip(flat.split([p.numel() for p in params]), params)]
            kept.clear()
        for p, g in zip(params, grads):
            if p.grad is not g:
                p.grad = g
        rows = x_in.shape[0]
        outs = [x_in]  # each layer's input, then the output
        for i, (w, b, act) in enumerate(zip(weights, biases, forward)):
            z = torch.addmm(b, outs[-1], w.t(), out=buffer(("out", i), rows, w.shape[0]))
            outs.append(z if act is None else act(z))
        out, n = outs[-1], target.numel()
        # delta · scale is d(loss)/d(the pre-activation) of layer i; the scale rides on the products' alpha
        if bce:
            recon, delta = bce_and_sigmoid(out, target, inplace=True, work=buffer(("work",), *out.shape))
            delta, scale = delta.sub_(target), 1.0 / n  # d(mean BCE)/d(logits) = (σ(z) − t) / n
        else:
            diff = torch.sub(out, target, out=buffer(("work",), *out.shape))
            flat = diff.view(-1)
            recon = torch.dot(flat, flat) / n  # F.mse_loss
            delta, scale = _chain(diff, out, backward[last]), 2.0 / n
        terms = {"recon": recon}
        code = outs[code_at + 1]
        if l1:
            terms["l1"] = l1 * (code.abs().sum() / code.shape[0])
        if kl_beta:
            rho_hat = code.mean(dim=0)
            clamped = rho_hat.clamp(1e-7, 1 - 1e-7)
            kl = (rho * torch.log(rho / clamped) + (1 - rho) * torch.log((1 - rho) / (1 - clamped))).sum()
            terms["kl"] = kl_beta * kl
            inside = (rho_hat >= 1e-7) & (rho_hat <= 1 - 1e-7)  # clamp passes the gradient inside its range only
            kl_grad = ((1 - rho) / (1 - clamped) - rho / clamped).mul_(inside).mul_(kl_beta / code.shape[0])
        if wd:
            terms["weight_decay"] = wd * (0.5 * sum((w * w).sum() for w in weights))
        for i in range(last, -1, -1):
            delta_t = delta.t()
            grads[2 * i].addmm_(delta_t, outs[i], beta=0, alpha=scale)  # beta 0: the old values are ignored
            if scale != 1.0:  # the bias's gradient: the scaled column sums, as one product (not a sum, then a scale)
                ones = kept.get(("ones", rows))
                if ones is None:
                    ones = kept["ones", rows] = torch.ones(rows, dtype=delta.dtype, device=delta.device)
                grads[2 * i + 1].addmv_(delta_t, ones, beta=0, alpha=scale)
            else:
                torch.sum(delta, dim=0, out=grads[2 * i + 1])
            if wd:
                grads[2 * i].add_(weights[i], alpha=wd)
            if i == 0:
                break
            below = buffer(("below", i), rows, weights[i].shape[1])  # d(loss)/d(layer i - 1's output)
            below.addmm_(delta, weights[i], beta=0, alpha=scale)  # beta 0: the old values are ignored
            scale = 1.0
            if i - 1 == code_at and l1:
                below.add_(torch.sign(code), alpha=l1 / code.shape[0])
            if i - 1 == code_at and kl_beta:
                below.add_(kl_grad)
            delta = _chain(below, outs[i], backward[i - 1])
        total = recon
        for name, value in terms.items():
            if name != "recon":
                total = total + value
        terms["loss"] = total
        return terms

    return step


def _chain(grad: torch.Tensor, out: torch.Tensor, backward) -> torch.Tensor:
    """d(loss)/d(pre-activation) of a layer from d(loss)/d(its output) `grad` (overwritten), its output `out` and its
    activation's entry in `_BACKWARD`."""
    return grad if backward is None else backward(grad, out)
