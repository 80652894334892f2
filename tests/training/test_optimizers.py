"""Optimizers from configs: parameter groups by regex, and the dense+sparse Adam."""
import pytest
import torch

from lmlab.common import ConfigurationError, Lazy, Params
from lmlab.training.optimizers import Optimizer


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 3))


def _build(config, model):
    return Lazy(Optimizer, Params(config, "trainer.optimizer")).construct(
        model_parameters=list(model.named_parameters()))


def test_parameter_groups_by_regex():
    model = _model()
    optimizer = _build({"type": "sgd", "lr": 0.1, "parameter_groups": [[["^0\\."], {"lr": 0.01}],
                                                                        [["bias"], {"momentum": 0.5}]]}, model)
    groups = optimizer.param_groups
    assert [len(g["params"]) for g in groups] == [1, 1, 1]
    assert groups[0]["params"][0] is model[0].weight and groups[0]["lr"] == 0.01
    assert groups[1]["params"][0] is model[1].bias and groups[1]["momentum"] == 0.5 and groups[1]["lr"] == 0.1
    assert groups[2]["params"][0] is model[1].weight


def test_frozen_parameters_are_left_out_and_unmatched_regex_is_an_error():
    model = _model()
    model[0].weight.requires_grad_(False)
    assert sum(len(g["params"]) for g in _build({"type": "adam"}, model).param_groups) == 2
    with pytest.raises(ConfigurationError,
                       match="at trainer.optimizer.parameter_groups\\[0\\]: parameter group regexes \\['nothing'\\]"):
        _build({"type": "adam", "parameter_groups": [[["nothing"], {"lr": 1.0}]]}, model)
    with pytest.raises(ConfigurationError, match="at trainer.optimizer.lr: expected float"):
        _build({"type": "adam", "lr": "fast"}, model)


def test_dense_sparse_adam_matches_adam_on_dense_and_touches_only_sparse_rows():
    torch.manual_seed(0)
    dense = torch.nn.Linear(3, 2)
    reference = torch.nn.Linear(3, 2)
    reference.load_state_dict(dense.state_dict())
    ours = _build({"type": "dense_sparse_adam", "lr": 0.1}, dense)
    theirs = torch.optim.Adam(reference.parameters(), lr=0.1)
    x = torch.randn(5, 3)
    for _ in range(3):
        for module, optimizer in ((dense, ours), (reference, theirs)):
            optimizer.zero_grad()
            module(x).pow(2).sum().backward()
            optimizer.step()
    assert torch.allclose(dense.weight, reference.weight, atol=1e-6)
    table = torch.nn.Embedding(6, 2, sparse=True)
    before = table.weight.detach().clone()
    optimizer = _build({"type": "dense_sparse_adam", "lr": 0.1}, table)
    table(torch.tensor([1, 4])).sum().backward()
    optimizer.step()
    changed = (table.weight != before).any(dim=1).tolist()
    assert changed == [False, True, False, False, True, False]
    # lazy Adam: the first step moves each touched entry by exactly lr (m/sqrt(v) = sign(g))
    assert torch.allclose(before[1] - table.weight[1], torch.full((2,), 0.1), atol=1e-6)


def test_adam_uses_the_fused_kernel_on_the_cpu_and_matches_the_per_tensor_loop():
    model, reference = _model(), _model()
    initial = [p.detach().clone() for p in model.parameters()]
    ours = _build({"type": "adam", "lr": 0.1}, model)
    theirs = torch.optim.Adam(reference.parameters(), lr=0.1, foreach=False)
    assert all(group["fused"] for group in ours.param_groups)
    x = torch.tensor([[1, 2], [3, 9]])
    for _ in range(3):
        for module, optimizer in ((model, ours), (reference, theirs)):
            optimizer.zero_grad()
            module(x).pow(2).sum().backward()
            optimizer.step()
    for mine, reference_parameter, start in zip(model.parameters(), reference.parameters(), initial, strict=True):
        assert torch.allclose(mine, reference_parameter, atol=1e-6)
        assert not torch.equal(mine, start)  # it did train


def test_dense_sparse_adam_resumes_exactly_from_its_state_dict():
    def trained(steps, resume_after=None):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Embedding(10, 4, sparse=True), torch.nn.Linear(4, 3))
        optimizer = _build({"type": "dense_sparse_adam", "lr": 0.1}, model)
        for step in range(steps):
            if step == resume_after:
                saved = optimizer.state_dict()
                optimizer = _build({"type": "dense_sparse_adam", "lr": 0.1}, model)
                optimizer.load_state_dict(saved)
            optimizer.zero_grad()
            model(torch.tensor([[1, 2], [step, 7]])).pow(2).sum().backward()
            optimizer.step()
        return model.state_dict()

    uninterrupted, resumed = trained(4), trained(4, resume_after=2)
    assert all(torch.equal(uninterrupted[k], resumed[k]) for k in uninterrupted)
    assert not torch.equal(trained(4)["1.weight"], trained(3)["1.weight"])
