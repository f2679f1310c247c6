"""Drop-in checks driven by PyTorch's own optimizer database.

``torch.testing._internal.common_optimizers`` (shipped in the torch wheel) lists, per optimizer,
the constructor configurations PyTorch's optimizer tests run (``optim_inputs_func``), the
configurations that must fail (``optim_error_inputs_func``) and LR schedulers to run with it.
Here every configuration of torch.optim.Adam / RMSprop runs on MaskedAdam / MaskedRMSprop with
masks=None and all-True masks: the options these kernels implement must match torch.optim step for
step (float32), the others (amsgrad, capturable, differentiable, foreach=True, ...) must be refused
with a ValueError naming the option; and the Optimizer API (state dicts and their hooks, step hooks,
param groups, closures, schedulers, pickling, positional lr, tensor lr) must behave as torch's.
"""

from __future__ import annotations

import copy
import pickle
import re
import warnings

import pytest
import torch
from torch import nn

from lotteryfast import MaskedAdam, MaskedRMSprop

db = pytest.importorskip("torch.testing._internal.common_optimizers")

PAIRS = {"Adam": (torch.optim.Adam, MaskedAdam), "RMSprop": (torch.optim.RMSprop, MaskedRMSprop)}
UNSUPPORTED = {
    "amsgrad": True,
    "capturable": True,
    "differentiable": True,
    "fused": True,
    "foreach": True,
    "decoupled_weight_decay": True,
}


def _info(name: str):
    return next(i for i in db.optim_db if i.optim_cls is PAIRS[name][0])


def _inputs(name: str):
    info = _info(name)
    out = []
    for inp in db._get_optim_inputs_including_global_cliquey_kwargs("cpu", torch.float32, info):
        bad = [k for k, v in inp.kwargs.items() if k in UNSUPPORTED and v is UNSUPPORTED[k]]
        out.append(pytest.param(name, inp.kwargs, bad, id=f"{name}-{inp.desc or 'default'}"))
    return out


ALL_INPUTS = _inputs("Adam") + _inputs("RMSprop")


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    net.register_parameter("scalar", nn.Parameter(torch.tensor(0.3)))  # a 0-d parameter
    net.register_parameter("empty", nn.Parameter(torch.zeros(0, 4)))  # an empty one
    return net


def _loss(net: nn.Module, step: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(100 + step)
    x = torch.randn(16, 5, generator=g)
    return (net(x) * net.scalar).pow(2).mean() + net.empty.sum()


def _masks(net: nn.Module, kind: str):
    if kind == "none":
        return None
    return [torch.ones_like(p, dtype=torch.bool) for p in net.parameters()]


def _run(opt, net, steps, start=0, scheduler=None):
    for s in range(start, start + steps):

        def closure(s=s):
            opt.zero_grad()
            loss = _loss(net, s)
            loss.backward()
            return loss

        loss = opt.step(closure)
        if scheduler is not None:
            scheduler.step(float(loss.detach())) if isinstance(
                scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau
            ) else scheduler.step()
    return net


def _assert_same_params(a: nn.Module, b: nn.Module):
    for (n, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=2e-5, atol=2e-6, msg=lambda m, n=n: f"{n}: {m}")


@pytest.mark.parametrize(("name", "kwargs", "bad"), ALL_INPUTS)
@pytest.mark.parametrize("masks", ["none", "all-true"])
def test_each_torch_config_matches_torch_or_is_refused_by_name(name, kwargs, bad, masks):
    torch_cls, masked_cls = PAIRS[name]
    net = _model()
    if bad:
        with pytest.raises(ValueError, match=re.escape(f"{bad[0]}=True")):
            masked_cls(net.parameters(), _masks(net, masks), **kwargs)
        return
    ref = copy.deepcopy(net)
    opt = masked_cls(net.parameters(), _masks(net, masks), **kwargs)
    ref_opt = torch_cls(ref.parameters(), **kwargs)
    _run(opt, net, 8)
    _run(ref_opt, ref, 8)
    _assert_same_params(net, ref)
    ours, theirs = opt.state_dict(), ref_opt.state_dict()
    assert ours["state"].keys() == theirs["state"].keys()
    for i, st in theirs["state"].items():
        assert ours["state"][i].keys() == st.keys()
        for k, v in st.items():
            torch.testing.assert_close(ours["state"][i][k], v, rtol=2e-5, atol=2e-6, msg=lambda m, k=k: f"{k}: {m}")


@pytest.mark.parametrize(("name", "kwargs", "bad"), [p for p in ALL_INPUTS if not p.values[2]])
def test_state_dict_round_trips_through_ours_and_torchs(name, kwargs, bad):
    torch_cls, masked_cls = PAIRS[name]
    net = _model()
    whole = copy.deepcopy(net)
    _run(masked_cls(whole.parameters(), **kwargs), whole, 6)
    opt = masked_cls(net.parameters(), _masks(net, "all-true"), **kwargs)
    _run(opt, net, 3)
    sd = copy.deepcopy(opt.state_dict())
    # Continue in a fresh MaskedX, in torch's optimizer and in a pickled copy: all as uninterrupted.
    for cls in (masked_cls, torch_cls):
        resumed = copy.deepcopy(net)
        other = cls(resumed.parameters(), **kwargs)
        other.load_state_dict(sd)
        _run(other, resumed, 3, start=3)
        _assert_same_params(resumed, whole)
    twin_net, twin_opt = pickle.loads(pickle.dumps((net, opt)))
    _run(twin_opt, twin_net, 3, start=3)
    _assert_same_params(twin_net, whole)


@pytest.mark.parametrize("name", list(PAIRS))
def test_schedulers_of_the_database_step_as_with_torch(name):
    torch_cls, masked_cls = PAIRS[name]
    for make_schedulers in _info(name).scheduler_inputs:
        for make in make_schedulers:
            net, ref = _model(), _model()
            opt, ref_opt = masked_cls(net.parameters(), lr=0.05), torch_cls(ref.parameters(), lr=0.05)
            _run(opt, net, 12, scheduler=make(opt))
            _run(ref_opt, ref, 12, scheduler=make(ref_opt))
            _assert_same_params(net, ref)
            assert opt.param_groups[0]["lr"] == ref_opt.param_groups[0]["lr"]


@pytest.mark.parametrize("name", list(PAIRS))
def test_error_inputs_of_the_database_fail_as_with_torch(name):
    _, masked_cls = PAIRS[name]
    for err in _info(name).optim_error_inputs_func("cpu", torch.float32):
        inp = err.optimizer_error_input
        params = inp.params if inp.params is not None else [nn.Parameter(torch.randn(2, 2))]
        if err.error_type is UserWarning:
            with pytest.warns(UserWarning, match=err.error_regex):
                masked_cls(params, **inp.kwargs)
            continue
        with pytest.raises(err.error_type) as info:
            masked_cls(params, **inp.kwargs)
        if inp.kwargs.get("foreach"):
            assert "foreach=True" in str(info.value)  # refused as unsupported before torch's own check
        else:
            assert re.search(err.error_regex, str(info.value)), (inp.desc, str(info.value))


@pytest.mark.parametrize("name", list(PAIRS))
def test_state_dict_hooks_see_dense_state_and_non_parameter_keys_pass_through(name):
    _, masked_cls = PAIRS[name]
    net = _model()
    masks = [
        torch.rand(p.shape, generator=torch.Generator().manual_seed(i)) > 0.5 for i, p in enumerate(net.parameters())
    ]
    opt = masked_cls(net.parameters(), masks)
    _run(opt, net, 2)
    seen = {}

    def pre(optimizer):
        optimizer.state["my_counter"] = 7  # a non-parameter key, as torch allows

    def post(optimizer, sd):
        seen.update(
            {
                i: {k: tuple(v.shape) for k, v in s.items() if k != "step"}
                for i, s in sd["state"].items()
                if isinstance(i, int)
            }
        )
        sd["extra"] = "from the hook"
        return sd

    opt.register_state_dict_pre_hook(pre)
    opt.register_state_dict_post_hook(post)
    sd = opt.state_dict()
    assert sd["state"]["my_counter"] == 7 and sd["extra"] == "from the hook"
    shapes = [tuple(p.shape) for p in net.parameters()]
    assert seen and all(set(v) == {shapes[i]} for i, s in seen.items() for v in [set(s.values())])
    loaded = []
    other = masked_cls(_model().parameters(), masks)
    other.register_load_state_dict_post_hook(lambda o: loaded.append(o.state["my_counter"]))
    other.load_state_dict(sd)
    assert loaded == [7]


@pytest.mark.parametrize("name", list(PAIRS))
def test_step_hooks_closure_and_zero_grad_behave_as_torchs(name):
    _, masked_cls = PAIRS[name]
    net = _model()
    opt = masked_cls(net.parameters())
    calls = []
    opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    loss = opt.step(lambda: _loss(net, 0).backward() or torch.tensor(3.0))
    assert float(loss) == 3.0 and calls == ["pre", "post"]
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in net.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.parametrize("name", list(PAIRS))
def test_positional_lr_tensor_lr_and_named_params_work_like_torch(name):
    torch_cls, masked_cls = PAIRS[name]
    for args, kwargs in (((0.02,), {}), ((), {"lr": torch.tensor(0.02)})):
        net, ref = _model(), _model()
        _run(masked_cls(net.parameters(), *args, **kwargs), net, 4)
        _run(torch_cls(ref.parameters(), *args, **kwargs), ref, 4)
        _assert_same_params(net, ref)
    net, ref = _model(), _model()
    _run(masked_cls(list(net.named_parameters()), lr=0.02), net, 3)
    _run(torch_cls(list(ref.named_parameters()), lr=0.02), ref, 3)
    _assert_same_params(net, ref)
    with pytest.raises(ValueError, match="second positional argument is masks"):
        masked_cls(_model().parameters(), 0.01, 0.02)
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        masked_cls(_model().parameters(), lr=torch.tensor([0.1, 0.2]))


@pytest.mark.parametrize("name", list(PAIRS))
def test_float64_params_are_refused_at_construction_naming_the_param(name):
    _, masked_cls = PAIRS[name]
    net = _model().double()
    with pytest.raises(ValueError, match=r"param_groups\[0\]\['params'\]\[0\] \(shape \(\)\) is torch.float64"):
        masked_cls(net.parameters())
    opt = masked_cls(_model().parameters())
    with pytest.raises(ValueError, match=r"param_groups\[1\]\['params'\]\[0\].*float64"):
        opt.add_param_group({"params": [nn.Parameter(torch.zeros(3, dtype=torch.float64))]})
    assert len(opt.param_groups) == 1
    with pytest.raises(ValueError, match=r"does not support"):
        opt.add_param_group({"params": [nn.Parameter(torch.zeros(3))], "foreach": True})


def test_param_groups_with_their_own_options_match_torch():
    for name, extra in (("Adam", {"betas": (0.8, 0.9), "weight_decay": 0.1}), ("RMSprop", {"momentum": 0.5})):
        torch_cls, masked_cls = PAIRS[name]
        net, ref = _model(), _model()

        def groups(m, extra=extra):
            ps = list(m.parameters())
            return [{"params": ps[:2], "lr": 0.03, **extra}, {"params": ps[2:]}]

        _run(masked_cls(groups(net), lr=0.01), net, 5)
        _run(torch_cls(groups(ref), lr=0.01), ref, 5)
        _assert_same_params(net, ref)


def test_no_warning_on_a_plain_step():
    net = _model()
    opt = MaskedAdam(net.parameters())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _run(opt, net, 2)
