"""The imputer's networks: how one is trained (`fit_member`) and how it fills a table (`fill`), for `aekit.impute`.

Why not `aekit.fit`: its loss runs over every cell and it refuses NaN, whereas here the loss must skip the
missing cells, the corruption must leave them out, and early stopping scores cells hidden from the input.
The loop below is `fit`'s, flat and short, with those three changes, and it runs in two phases:

1. the network learns from the table as it is: a missing cell reads 0 (its column's mean) and the mask says so;
2. with `self_train`, it goes on learning from the rows it completed: its training cells as observed, every other
   cell as it filled them from those (the mask says seen), the loss still on the training cells only. That is what
   re-feeding asks of it (`fill`: the gaps read its own fills), and it is self-training in the usual sense, its
   fills read as pseudo-observations. On the development seeds it lowered the error on 13 of 15 cases
   (docs/impute.md, round 8).

Both phases stop when the RMSE of the held-out cells, filled as that phase reads the table, has not improved for
`patience` epochs, and keep their best epoch's weights; the second starts from the first's and keeps them unless it
beats them.

3. With `refit`, a fresh network of the same seed then learns from every observed cell, the held-out ones too, for
   each phase's best number of epochs scaled by the cells it gains (`refit_member`), and fills the gaps; the held-out
   network still scores the member's cells (which columns to re-feed, the linear share, the reported RMSE). On the
   development seeds it lowered the error by 0.5 point on wine and linnerud and by 2.8 on digits at MCAR 10%
   (docs/impute.md, round 9).
"""

from __future__ import annotations

import dataclasses
import math
import time

import torch

from aekit.models import Autoencoder
from aekit.objectives import masked_mse
from aekit.objectives import weight_decay as l2_penalty
from aekit.training.callbacks.base import History, TrainState
from aekit.training.optim import make_optimizer

REFIT_STREAM = 17  # the refit network's batches and dropout: the member's seed + this (its own stream, same init)


def fit_member(z, train, held, mcfg, tcfg, mask_input, self_train, callbacks, device):
    """Train one network on the `train` cells of `z`, stopping on the RMSE of its `held` cells; then, with
    `self_train`, on the rows it completed. Returns the network at its best epoch and (epochs, best epoch,
    history, epochs of the second phase, each phase's best number of epochs: the second's counted from its start,
    0 if it never beat the first), the epochs and history of both phases together."""
    train_t, held_t = torch.from_numpy(train).to(device), torch.from_numpy(held).to(device)
    model = Autoencoder(mcfg).to(device)
    generator = torch.Generator(device).manual_seed(tcfg.seed)
    state = TrainState(model, make_optimizer(model, tcfg), tcfg, generator, History())
    state.steps_per_epoch = math.ceil(z.shape[0] / tcfg.batch_size)
    model.train()
    for cb in callbacks:
        cb.on_train_begin(state)
    best_epoch = first_best = _phase(state, z, train_t, z, train_t, held_t, mask_input, callbacks, math.inf, False)
    first, second = state.epoch, 0
    if self_train and held.any():  # the rows it completed from its training cells (held-out cells filled too)
        completed = _completed(model, z, train_t, mask_input)
        with torch.no_grad():
            model.eval()
            start = _score(model, z, train_t, held_t, mask_input, refed=True)
            model.train()
        all_seen = torch.ones_like(train_t)
        second = _phase(state, completed, all_seen, z, train_t, held_t, mask_input, callbacks, start, refed=True)
        best_epoch = second or best_epoch
    for cb in callbacks:
        cb.on_train_end(state)
    model.eval()
    history = {k: list(v) for k, v in state.history.history.items()}
    return model, (state.epoch, best_epoch, history, state.epoch - first, (first_best, second and second - first))


def refit_member(z, cells, mcfg, tcfg, epochs: tuple[int, int], mask_input, device):
    """A fresh network (`mcfg`'s seed, its own batch stream) trained on every one of the `cells` of `z`, without
    early stopping: `epochs[0]` epochs as the first phase reads the table, then `epochs[1]` on the rows it completed
    (0: none), as `fit_member`'s held-out network learnt them (pass its best epochs, scaled by the cells gained)."""
    cells_t = torch.from_numpy(cells).to(device)
    model = Autoencoder(mcfg).to(device)
    generator = torch.Generator(device).manual_seed(tcfg.seed + REFIT_STREAM)
    first = dataclasses.replace(tcfg, epochs=max(1, epochs[0]), patience=0)
    state = TrainState(model, make_optimizer(model, first), first, generator, History())
    none = torch.zeros_like(cells_t)
    model.train()
    _phase(state, z, cells_t, z, cells_t, none, mask_input, (), math.inf, refed=False)
    if epochs[1]:
        completed = _completed(model, z, cells_t, mask_input)
        state.config = dataclasses.replace(tcfg, epochs=epochs[1], patience=0)
        _phase(state, completed, torch.ones_like(cells_t), z, cells_t, none, mask_input, (), math.inf, refed=True)
    model.eval()
    return model


@torch.no_grad()
def _completed(model, z, cells, mask_input):
    """The rows of `z` completed by the network: its `cells` as they are, every other cell as it fills it from
    those (the network is evaluated, then left in training mode)."""
    model.eval()
    completed = torch.where(cells, z, predict(model, z, cells, mask_input))
    model.train()
    return completed


def _phase(state, values, cells, z, train, held, mask_input, callbacks, best, refed: bool) -> int:
    """Epochs in which the network reads the `cells` of `values` (a random `noise_level` of them hidden in each
    batch) and learns the `train` cells of `z`, until the RMSE of the `held` cells has not gone below `best` for
    `patience` epochs or `epochs` have run. The held cells are filled as `fill` fills the gaps: from the training
    cells, and with `refed` (the second phase) re-fed once, as the second phase trains for. Leaves the
    network at its best epoch and returns that epoch (0: it never beat `best`, and the network is as it came)."""
    model, tcfg, n = state.model, state.config, z.shape[0]
    batch_size, dropout, patience, weight_decay = tcfg.batch_size, tcfg.noise_level, tcfg.patience, tcfg.weight_decay
    best_epoch, best_state, last = 0, {k: v.clone() for k, v in model.state_dict().items()}, state.epoch + tcfg.epochs
    since, stop = 0, False
    while state.epoch < last and not stop and not state.stop_training:  # a callback may stop it too
        for cb in callbacks:
            cb.on_epoch_begin(state)
        t0, total = time.perf_counter(), 0.0
        order = torch.randperm(n, generator=state.generator, device=z.device)
        for batch, start in enumerate(range(0, n, batch_size)):
            idx = order[start : start + batch_size]
            mb = train[idx]
            hide = torch.rand(mb.shape, generator=state.generator, device=z.device) < dropout  # input dropout
            loss = masked_mse(predict(model, values[idx], cells[idx] & ~hide, mask_input), z[idx], mb)
            if weight_decay:
                loss = loss + weight_decay * l2_penalty(model)
            state.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            state.optimizer.step()
            state.step += 1
            total += loss.item() * idx.numel()
            for cb in callbacks:
                cb.on_batch_end(state, batch, {"loss": loss.item()})
        model.eval()
        with torch.no_grad():
            val = _score(model, z, train, held, mask_input, refed)
        model.train()
        state.epoch += 1
        logs = {"loss": total / n, "val_rmse": val, "epoch_time": time.perf_counter() - t0}
        state.history.append(state.epoch, logs)
        if val < best or math.isnan(val):  # nan: no held-out cell, so every epoch is the best so far
            best, best_epoch, since = val, state.epoch, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            since += 1
            stop = bool(patience) and since >= patience
        for cb in callbacks:
            cb.on_epoch_end(state, logs)
    model.load_state_dict(best_state)
    return best_epoch


def _score(model, z, train, held, mask_input, refed: bool) -> float:
    """The RMSE of the network's values of the `held` cells of `z` from its `train` cells (re-fed once: `refed`)."""
    if not held.any():
        return math.nan
    pred = predict(model, z, train, mask_input)
    if refed:
        pred = _refed(model, z, train, pred, 1, mask_input)
    return math.sqrt(float(masked_mse(pred, z, held)))


def _refed(model, z, seen, pred, rounds, mask_input):
    """`pred` after `rounds` passes in which the gaps read the network's own fills and the mask says seen."""
    for _ in range(rounds):
        pred = predict(model, torch.where(seen, z, pred), torch.ones_like(seen), mask_input)
    return pred


@torch.no_grad()
def fill(model, z, seen, train, held, refeed, mask_input, scorer=None):
    """One member's fills of the table and its values of every cell from its training cells (so its held-out
    cells are filled as the gaps are), as numpy arrays: re-fed `refeed` times in the columns where that lowers the
    squared error on the member's held-out cells, its first pass in the others. With a `scorer` (the held-out
    network beside a refit `model`, which learnt the held-out cells), the scorer gives the held-out cells' values
    and chooses the columns; `model` fills the gaps."""
    scorer = model if scorer is None else scorer
    first = predict(model, z, seen, mask_input)
    plain = predict(scorer, z, train, mask_input)
    if refeed and held.any():
        held_t = torch.from_numpy(held).to(z.device)
        again = _refed(scorer, z, train, plain, refeed, mask_input)
        use = ((again - z) ** 2 * held_t).sum(0) < ((plain - z) ** 2 * held_t).sum(0)  # per column
        first = torch.where(use, _refed(model, z, seen, first, refeed, mask_input), first)
        plain = torch.where(use, again, plain)
    return first.double().cpu().numpy(), plain.double().cpu().numpy()


def predict(model: torch.nn.Module, values: torch.Tensor, seen: torch.Tensor, mask_input: bool) -> torch.Tensor:
    """The network's values for every cell of `values` from its `seen` cells (the others read 0, the mean).

    With `mask_input` the row is [values, mask] (input_dim 2×columns); the decoder's second half is unused.
    """
    x = values * seen
    if mask_input:
        x = torch.cat([x, seen.to(x.dtype)], dim=1)
    return model(x)[:, : values.shape[1]]
