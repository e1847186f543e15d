import copy

import pytest
import torch
from aekit_subprocess import modules_after

from aekit.training import optimizers

CASES = {  # name: (aekit's, torch.optim's), the same settings
    "adadelta": (
        lambda p: optimizers.Adadelta(p, lr=1.0, rho=0.95, eps=1e-7),
        lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.95, eps=1e-7),
    ),
    "adadelta-decay": (
        lambda p: optimizers.Adadelta(p, lr=0.5, weight_decay=0.01),
        lambda p: torch.optim.Adadelta(p, lr=0.5, weight_decay=0.01),
    ),
    "adam-fused": (
        lambda p: optimizers.Adam(p, lr=0.01, eps=1e-7),
        lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-7, fused=optimizers._has_fused_adam(p[0].device)),
    ),
    "adam-unfused": (
        lambda p: optimizers.Adam(p, lr=0.01, eps=1e-7, weight_decay=0.01, fused=False),
        lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-7, weight_decay=0.01),
    ),
    "sgd": (lambda p: optimizers.SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
}


def model_and_batches(seed=0, steps=12):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(12, 4), torch.nn.ReLU(), torch.nn.Linear(4, 12))
    gen = torch.Generator().manual_seed(seed + 1)
    return model, [torch.rand(8, 12, generator=gen) for _ in range(steps)]


def train(model, opt, batches, lr_every=None):
    for i, x in enumerate(batches):
        if lr_every:
            opt.param_groups[0]["lr"] = lr_every(i)
        loss = ((model(x) - x) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("name", CASES)
def test_steps_match_torch_optim(name):
    ours, theirs = CASES[name]
    m1, batches = model_and_batches()
    m2, _ = model_and_batches()

    def schedule(i):
        return 0.5 / (1 + i)

    a = train(m1, ours(list(m1.parameters())), batches, schedule)
    b = train(m2, theirs(list(m2.parameters())), batches, schedule)
    assert any(not torch.equal(p, q) for p, q in zip(a, model_and_batches()[0].parameters()))  # it trained
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("direction", ["torch-to-aekit", "aekit-to-torch"])
def test_state_dicts_load_across_and_continue_bitwise(name, direction):
    """A state saved by one class, loaded into the other, continues exactly as the first would have."""
    ours, theirs = CASES[name]
    first, second = (theirs, ours) if direction == "torch-to-aekit" else (ours, theirs)
    m1, batches = model_and_batches()
    opt1 = first(list(m1.parameters()))
    train(m1, opt1, batches[:6])
    m2, _ = model_and_batches()
    m2.load_state_dict(m1.state_dict())
    opt2 = second(list(m2.parameters()))
    opt2.load_state_dict(copy.deepcopy(opt1.state_dict()))  # as a checkpoint: a copy
    assert type(opt1).__module__ != type(opt2).__module__  # one aekit's, one torch.optim's
    for p, q in zip(train(m1, opt1, batches[6:]), train(m2, opt2, batches[6:])):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_state_dict_layout_is_torch_optims():
    m, batches = model_and_batches(steps=2)
    opt = optimizers.Adadelta(list(m.parameters()), lr=1.0, rho=0.95, eps=1e-7)
    train(m, opt, batches)
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0, 1, 2, 3]
    assert set(sd["state"]) == {0, 1, 2, 3}
    assert sd["state"][0]["step"].dtype == torch.float32 and float(sd["state"][0]["step"]) == 2.0
    assert sd["state"][2]["square_avg"].shape == (12, 4)  # the decoder's weight


def test_a_state_for_another_model_is_refused():
    m, _ = model_and_batches()
    opt = optimizers.Adadelta(list(m.parameters()))
    with pytest.raises(ValueError, match="4 in one group"):
        opt.load_state_dict({"state": {}, "param_groups": [{"params": [0, 1], "lr": 1.0}]})


def test_training_imports_no_torch_dynamo():
    """torch.optim's wrappers import torch._dynamo (0.8 s of start-up); fit's optimizers must not."""
    code = (
        "import numpy as np, aekit\n"
        "x = np.random.default_rng(0).random((64, 8), dtype=np.float32)\n"
        "for opt in ('adadelta', 'adam', 'sgd'):\n"
        "    aekit.fit(aekit.Autoencoder(aekit.ModelConfig(input_dim=8, encoding_dim=2)), x, epochs=1, verbose=0,"
        " optimizer=opt, lr=0.1)\n"
    )
    assert modules_after(code, "torch._dynamo") == []


def flat_grads(model):
    """Each parameter's gradient moved into a view of one flat buffer (as the analytic step fills them)."""
    params = list(model.parameters())
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    for p, view in zip(params, flat.split([p.numel() for p in params])):
        p.grad = view.view_as(p)


@pytest.mark.parametrize("reload_at", [None, 3])
def test_adadelta_on_flat_gradients_steps_as_torch_optim_bitwise(reload_at):
    m1, batches = model_and_batches()
    m2, _ = model_and_batches()
    ours = optimizers.Adadelta(list(m1.parameters()), lr=1.0, rho=0.95, eps=1e-7)
    theirs = torch.optim.Adadelta(list(m2.parameters()), lr=1.0, rho=0.95, eps=1e-7)
    for i, x in enumerate(batches):
        for m, opt in ((m1, ours), (m2, theirs)):
            opt.zero_grad(set_to_none=True)
            ((m(x) - x) ** 2).mean().backward()
        flat_grads(m1)
        if i == reload_at:  # a state loaded mid-run (a checkpoint) goes on in the flat buffers
            ours.load_state_dict(copy.deepcopy(theirs.state_dict()))
        ours.step()
        theirs.step()
        assert ours._flat_cache is not None
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p, q)
    sd = ours.state_dict()  # views of the flat buffers, in torch.optim's layout
    assert sd["state"][2]["square_avg"].shape == (12, 4)
    for i, q in enumerate(m2.parameters()):
        assert torch.equal(sd["state"][i]["acc_delta"], theirs.state[q]["acc_delta"])


@pytest.mark.parametrize("interrupt", [None, "autograd-step", "reload", "new-rho-eps"])
def test_adadelta_reuses_its_flat_buffers_step_after_step_bitwise(interrupt):
    """Gradients in the same flat views every step (as the analytic step keeps them) take the quick path from the
    second step on; a step on other gradients or a loaded state in between goes on exactly as torch.optim."""
    m1, batches = model_and_batches()
    m2, _ = model_and_batches()
    ours = optimizers.Adadelta(list(m1.parameters()), lr=1.0, rho=0.95, eps=1e-7)
    theirs = torch.optim.Adadelta(list(m2.parameters()), lr=1.0, rho=0.95, eps=1e-7)
    params = list(m1.parameters())
    flat = torch.zeros(sum(p.numel() for p in params))
    views = [view.view_as(p) for view, p in zip(flat.split([p.numel() for p in params]), params)]
    quick = []
    for i, x in enumerate(batches):
        for m, opt in ((m1, ours), (m2, theirs)):
            opt.zero_grad(set_to_none=True)
            ((m(x) - x) ** 2).mean().backward()
        if not (interrupt == "autograd-step" and i == 5):
            for p, view in zip(params, views):
                p.grad = view.copy_(p.grad)
        if interrupt == "reload" and i == 5:
            ours.load_state_dict(copy.deepcopy(theirs.state_dict()))
        if interrupt == "new-rho-eps" and i == 5:  # the flat path's 0-d ρ and ε follow the group's values
            for opt in (ours, theirs):
                opt.param_groups[0].update(rho=0.9, eps=1e-6)
        cache = ours._flat_cache
        quick.append(cache is not None and cache.current(ours, params))
        ours.step()
        theirs.step()
    assert quick == [i > 0 and not (interrupt in ("autograd-step", "reload") and i == 5) for i in range(len(batches))]
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p, q)
        assert float(ours.state[p]["step"]) == float(theirs.state[q]["step"])  # torch 2.2's Adadelta: an int
        for name in ("square_avg", "acc_delta"):
            assert torch.equal(ours.state[p][name], theirs.state[q][name]), name
    assert float(ours.state_dict()["state"][3]["step"]) == len(batches)
