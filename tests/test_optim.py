import pytest
import torch

from aekit import Autoencoder, ModelConfig
from aekit.optim import Adadelta


def test_flat_adadelta_matches_torch_adadelta_through_a_state_dict_round_trip():
    cfg = ModelConfig(input_dim=30, encoding_dim=4, hidden=(12,))
    a, b = Autoencoder(cfg), Autoencoder(cfg)
    ref = torch.optim.Adadelta(a.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    ours = Adadelta(list(b.parameters()), lr=1.0, rho=0.95, eps=1e-7)
    x = torch.rand(32, 30, generator=torch.Generator().manual_seed(0))
    for step in range(12):
        for model, opt in ((a, ref), (b, ours)):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), x).backward()
            opt.step()
        if step == 5:
            state = ours.state_dict()
            ours = Adadelta(list(b.parameters()), lr=1.0, rho=0.95, eps=1e-7)
            ours.load_state_dict(state)
    for p, q in zip(a.parameters(), b.parameters()):  # the same operations: equal here, 1-ulp room for other CPUs
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    sa, sb = ref.state_dict(), ours.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    from safetensors.torch import save  # no two state tensors share memory (safetensors refuses that)

    save({f"{i}.{k}": v for i, s in sb["state"].items() for k, v in s.items()})
    for i in sa["state"]:
        for k in ("square_avg", "acc_delta", "step"):
            torch.testing.assert_close(sa["state"][i][k], sb["state"][i][k], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("options", [{"weight_decay": 0.1}, {"maximize": True}])
def test_flat_adadelta_falls_back_to_torch_for_other_options(options):
    a, b = Autoencoder(ModelConfig(input_dim=6, encoding_dim=2)), Autoencoder(ModelConfig(input_dim=6, encoding_dim=2))
    ref = torch.optim.Adadelta(a.parameters(), lr=1.0, **options)
    ours = Adadelta(list(b.parameters()), lr=1.0, **options)
    x = torch.rand(8, 6, generator=torch.Generator().manual_seed(1))
    for model, opt in ((a, ref), (b, ours)):
        for _ in range(3):
            opt.zero_grad()
            model(x).sum().backward()
            opt.step()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
