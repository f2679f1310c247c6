"""MaskedAdam / MaskedRMSprop against torch.optim and an elementwise reference."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
from conftest import ISAS
from reference import adam_update, rmsprop_update

from lotteryfast import MaskedAdam, MaskedRMSprop
from lotteryfast._ext import _C

# Sizes chosen to cross every boundary of the kernels: empty, one element, partial 16-lane
# vectors, partial 128-element groups, several 32768-element CPU chunks.
SHAPES = [(0,), (1,), (7, 3), (33,), (129,), (16, 16), (3, 5, 7), (70000,)]


def make_problem(shapes, density, device, dtype=torch.float32, seed=0):
    """Params (pre-masked), masks with all-kept and all-pruned tensors among them."""
    gen = torch.Generator().manual_seed(seed)
    params, masks = [], []
    for i, shape in enumerate(shapes):
        p = torch.randn(shape, generator=gen)
        if i % 4 == 1:
            m = torch.ones(shape, dtype=torch.bool)
        elif i % 4 == 2 and p.numel() > 1:
            m = torch.zeros(shape, dtype=torch.bool)
        else:
            m = torch.rand(shape, generator=gen) < density
        params.append((p * m).to(device=device, dtype=dtype).requires_grad_())
        masks.append(m.to(device))
    return params, masks


def random_grads(params, seed):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(p.shape, generator=gen).to(device=p.device, dtype=p.dtype) for p in params]


ADAM_CONFIGS = [
    dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
    dict(lr=3e-2, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1, maximize=True),
    dict(lr=1e-2, betas=(0.3, 0.9), eps=1e-6, weight_decay=0.0),  # beta1 < 0.5: lerp's other branch
]
RMS_CONFIGS = [
    dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False),
    dict(lr=1e-3, alpha=0.9, eps=1e-6, weight_decay=0.05, momentum=0.9, centered=False),
    dict(lr=1e-3, alpha=0.95, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=True),
    dict(lr=5e-3, alpha=0.99, eps=1e-5, weight_decay=0.01, momentum=0.5, centered=True, maximize=True),
]


def torch_twin(kind, params, masks, cfg):
    """A torch.optim optimizer on detached copies (single-tensor implementation)."""
    twins = [p.detach().clone().requires_grad_() for p in params]
    cls = torch.optim.Adam if kind == "adam" else torch.optim.RMSprop
    return twins, cls(twins, foreach=False, **cfg)


def run_steps(opt, params, twins, twin_opt, masks, steps, seed=0):
    for s in range(steps):
        grads = random_grads(params, seed + s)
        for p, t, g, m in zip(params, twins, grads, masks, strict=True):
            p.grad = g.clone()
            t.grad = torch.where(m, g, torch.zeros_like(g))
        opt.step()
        twin_opt.step()


def assert_pruned_zero(opt, params, masks):
    sd = opt.state_dict()
    for i, (p, m) in enumerate(zip(params, masks, strict=True)):
        assert torch.all(p.detach()[~m] == 0), f"param {i} has nonzero pruned weights"
        for key, value in sd["state"].get(i, {}).items():
            if key != "step":
                assert torch.all(value[~m] == 0), f"state {key} of param {i} is nonzero where pruned"


@pytest.mark.parametrize("cfg", ADAM_CONFIGS)
def test_adam_matches_torch_adam(cfg, device, isa):
    params, masks = make_problem(SHAPES, 0.2, device)
    opt = MaskedAdam(params, masks, **cfg)
    twins, twin_opt = torch_twin("adam", params, masks, cfg)
    run_steps(opt, params, twins, twin_opt, masks, steps=12)
    sd = opt.state_dict()
    for i, (p, t) in enumerate(zip(params, twins, strict=True)):
        torch.testing.assert_close(p.detach(), t.detach(), rtol=1e-6, atol=1e-7)
        for key in ("exp_avg", "exp_avg_sq"):
            # torch's vectorized lerp and add(alpha=) use fused multiply-adds: ulp-level
            # differences in g and m, visible where m cancels towards 0, hence the atol.
            torch.testing.assert_close(sd["state"][i][key], twin_opt.state[t][key], rtol=1e-6, atol=1e-6)
        assert sd["state"][i]["step"].item() == 12
    assert_pruned_zero(opt, params, masks)


@pytest.mark.parametrize("cfg", RMS_CONFIGS)
def test_rmsprop_matches_torch_rmsprop(cfg, device, isa):
    params, masks = make_problem(SHAPES, 0.3, device, seed=1)
    opt = MaskedRMSprop(params, masks, **cfg)
    twins, twin_opt = torch_twin("rmsprop", params, masks, cfg)
    run_steps(opt, params, twins, twin_opt, masks, steps=12, seed=100)
    sd = opt.state_dict()
    for i, (p, t) in enumerate(zip(params, twins, strict=True)):
        torch.testing.assert_close(p.detach(), t.detach(), rtol=1e-6, atol=1e-7)
        for key, value in twin_opt.state[t].items():
            torch.testing.assert_close(sd["state"][i][key], value, rtol=1e-6, atol=1e-6)
    assert_pruned_zero(opt, params, masks)


def reference_run(kind, params, masks, cfg, steps, seed):
    """The elementwise reference in float32 with rounding to the param dtype after each step."""
    ps = [p.detach().float().clone() for p in params]
    dtype = params[0].dtype
    keys = ["exp_avg", "exp_avg_sq"] if kind == "adam" else ["square_avg"]
    if kind == "rmsprop" and cfg["momentum"] > 0:
        keys.append("momentum_buffer")
    if kind == "rmsprop" and cfg["centered"]:
        keys.append("grad_avg")
    states = [{k: torch.zeros_like(p) for k in keys} for p in ps]
    for s in range(steps):
        grads = random_grads(params, seed + s)
        for i, (g, m) in enumerate(zip(grads, masks, strict=True)):
            g = torch.where(m, g, torch.zeros_like(g)).float()
            st = states[i]
            if kind == "adam":
                b1, b2 = cfg["betas"]
                p, st["exp_avg"], st["exp_avg_sq"] = adam_update(
                    ps[i],
                    g,
                    st["exp_avg"],
                    st["exp_avg_sq"],
                    s + 1,
                    cfg["lr"],
                    b1,
                    b2,
                    cfg["eps"],
                    cfg["weight_decay"],
                    cfg.get("maximize", False),
                )
            else:
                p = rmsprop_update(
                    ps[i],
                    g,
                    st,
                    cfg["lr"],
                    cfg["alpha"],
                    cfg["eps"],
                    cfg["weight_decay"],
                    cfg["momentum"],
                    cfg["centered"],
                    cfg.get("maximize", False),
                )
            ps[i] = torch.where(m, p, torch.zeros_like(p)).to(dtype).float()
            for k in keys:
                st[k] = st[k].to(dtype).float()
    return ps, states


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize(
    ("kind", "cfg"), [("adam", ADAM_CONFIGS[1]), ("rmsprop", RMS_CONFIGS[3]), ("rmsprop", RMS_CONFIGS[1])]
)
def test_bitwise_equal_to_elementwise_reference(kind, cfg, dtype, device, isa):
    """fp32 math with one rounding per stored value: identical bits on every path and dtype."""
    params, masks = make_problem(SHAPES, 0.25, device, dtype=dtype, seed=2)
    cls = MaskedAdam if kind == "adam" else MaskedRMSprop
    opt = cls(params, masks, **cfg)
    ref_params, ref_states = reference_run(kind, [p.cpu() for p in params], [m.cpu() for m in masks], cfg, 6, 7)
    for s in range(6):
        for p, g in zip(params, random_grads(params, 7 + s), strict=True):
            p.grad = g
        opt.step()
    sd = opt.state_dict()
    for i, p in enumerate(params):
        assert torch.equal(p.detach().float().cpu(), ref_params[i]), f"param {i} differs"
        for key, value in ref_states[i].items():
            assert torch.equal(sd["state"][i][key].float().cpu(), value), f"{key} of param {i} differs"


def test_avx512_and_generic_paths_identical():
    if "avx512" not in ISAS:
        pytest.skip("CPU without AVX-512")
    results = []
    for isa_name in ISAS:
        previous = _C.cpu_isa()
        _C.set_cpu_isa(isa_name)
        try:
            params, masks = make_problem(SHAPES, 0.2, "cpu", dtype=torch.bfloat16, seed=3)
            opt = MaskedAdam(params, masks, lr=1e-2)
            for s in range(3):
                for p, g in zip(params, random_grads(params, s), strict=True):
                    p.grad = g
                opt.step()
            results.append([p.detach().clone() for p in params])
        finally:
            _C.set_cpu_isa(previous)
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


def test_nonfinite_grads_never_reach_pruned_weights(device, isa):
    p = torch.randn(300, device=device)
    m = torch.rand(300, device=device) < 0.5
    p = (p * m).requires_grad_()
    opt = MaskedAdam([p], [m], lr=1e-2)
    g = torch.randn(300, device=device)
    g[~m] = float("nan")
    kept = torch.nonzero(m).flatten()
    g[kept[0]] = float("inf")
    g[kept[1]] = float("nan")
    p.grad = g
    opt.step()
    assert torch.all(p.detach()[~m] == 0)
    assert torch.isnan(p.detach()[kept[0]]) and torch.isnan(p.detach()[kept[1]])  # as torch.optim.Adam
    assert torch.isfinite(p.detach()[kept[2:]]).all()
    state = opt.state_dict()["state"][0]
    assert torch.all(state["exp_avg"][~m] == 0) and torch.all(state["exp_avg_sq"][~m] == 0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_pruned_weights_end_as_positive_zero_whatever_they_held(device, isa, dtype):
    """Whole pruned runs (full memory sectors) holding +0.0, -0.0, NaN or junk all end as +0.0 bits,
    next to kept entries that follow torch.optim.Adam."""
    n = 6000
    gen = torch.Generator().manual_seed(5)
    m = torch.rand(n, generator=gen) < 0.3
    m[:3000] = False
    m[3000:3100] = True
    p = torch.nn.Parameter((torch.randn(n, generator=gen) * m).to(device=device, dtype=dtype))
    mask = m.to(device)
    opt = MaskedAdam([p], [mask], lr=1e-2)
    twin = p.detach().float().clone().requires_grad_()
    twin_opt = torch.optim.Adam([twin], lr=1e-2, foreach=False)
    with torch.no_grad():  # pruned entries changed behind the optimizer's back
        p[1000:1500] = -0.0
        p[1500:1600] = float("nan")
        p[1600:2000] = torch.randn(400, generator=gen).to(device=device, dtype=dtype)
        p[2003] = 7.0
        p[4000:][~mask[4000:]] = -0.0
    g = torch.randn(n, generator=gen).to(device=device, dtype=dtype)
    p.grad = g
    twin.grad = torch.where(mask, g.float(), torch.zeros_like(twin))
    opt.step()
    twin_opt.step()
    bits = p.detach().view(torch.int32 if dtype == torch.float32 else torch.int16)
    assert torch.all(bits[~mask] == 0), "a pruned weight is not +0.0"
    tol = dict(rtol=1e-6, atol=1e-7) if dtype == torch.float32 else dict(rtol=1e-2, atol=1e-2)
    torch.testing.assert_close(p.detach().float()[mask], twin.detach().to(dtype).float()[mask], **tol)


def test_masks_are_applied_on_construction_and_default_is_dense():
    p = torch.nn.Parameter(torch.ones(10))
    m = torch.arange(10) % 3 == 0
    MaskedAdam([p], [m])
    assert torch.equal(p.detach(), m.float())
    q = torch.nn.Parameter(torch.ones(4))
    opt = MaskedAdam([q])
    q.grad = torch.ones(4)
    opt.step()
    assert torch.all(q.detach() < 1) and opt.masks() == [None]


def test_set_masks_zeroes_newly_pruned_state_and_keeps_the_rest(device, isa):
    params, masks = make_problem([(50, 20), (333,)], 0.6, device, seed=4)
    opt = MaskedAdam(params, masks, lr=1e-2)
    twins, twin_opt = torch_twin("adam", params, masks, dict(lr=1e-2))
    run_steps(opt, params, twins, twin_opt, masks, steps=3)
    new_masks = [m & (torch.rand(m.shape, device=device) < 0.5) for m in masks]
    opt.set_masks(new_masks)
    with torch.no_grad():  # the reference: apply the new masks to weights and state by hand
        for t, m in zip(twins, new_masks, strict=True):
            t.mul_(m)
            for key in ("exp_avg", "exp_avg_sq"):
                twin_opt.state[t][key].mul_(m)
    run_steps(opt, params, twins, twin_opt, new_masks, steps=3, seed=50)
    for p, t in zip(params, twins, strict=True):
        torch.testing.assert_close(p.detach(), t.detach(), rtol=1e-6, atol=1e-7)
    assert_pruned_zero(opt, params, new_masks)
    assert all(torch.equal(a, b) for a, b in zip(opt.masks(), new_masks, strict=True))


def test_state_dict_round_trips_with_torch_optimizers(device):
    params, masks = make_problem([(40, 10), (77,)], 0.3, device, seed=5)
    cfg = dict(lr=1e-2, betas=(0.9, 0.99))
    opt = MaskedAdam(params, masks, **cfg)
    twins, twin_opt = torch_twin("adam", params, masks, cfg)
    run_steps(opt, params, twins, twin_opt, masks, steps=4)
    # ours -> torch: torch continues exactly like our optimizer would.
    torch_opt = torch.optim.Adam(twins, foreach=False, **cfg)
    torch_opt.load_state_dict(opt.state_dict())
    # torch -> ours: a fresh MaskedAdam resumes from torch's state.
    clones = [p.detach().clone().requires_grad_() for p in params]
    resumed = MaskedAdam(clones, masks, **cfg)
    resumed.load_state_dict(copy.deepcopy(torch_opt.state_dict()))  # torch's shares live tensors
    for s in range(3):
        for group in (params, twins, clones):
            for i, g in enumerate(random_grads(params, 90 + s)):
                group[i].grad = torch.where(masks[i], g, torch.zeros_like(g))
        opt.step()
        torch_opt.step()
        resumed.step()
    for p, t, c in zip(params, twins, clones, strict=True):
        torch.testing.assert_close(p.detach(), t.detach(), rtol=1e-6, atol=1e-7)
        assert torch.equal(p.detach(), c.detach())
    ours, theirs = opt.state_dict()["param_groups"][0], resumed.state_dict()["param_groups"][0]
    assert all(ours[k] == theirs[k] for k in ("lr", "betas", "eps", "weight_decay", "maximize", "params"))


def test_rmsprop_state_dict_loads_into_torch():
    params, masks = make_problem([(64,)], 0.5, "cpu")
    opt = MaskedRMSprop(params, masks, lr=1e-2, momentum=0.9, centered=True)
    params[0].grad = torch.randn(64)
    opt.step()
    twin = torch.optim.RMSprop([params[0].detach().clone()], lr=1e-2, momentum=0.9, centered=True)
    twin.load_state_dict(opt.state_dict())
    st = next(iter(twin.state.values()))
    assert set(st) == {"step", "square_avg", "momentum_buffer", "grad_avg"}
    assert all(st[k].shape == (64,) for k in ("square_avg", "momentum_buffer", "grad_avg"))


def test_param_groups_mixed_dtypes_and_params_without_grad(isa):
    a = torch.nn.Parameter(torch.randn(100))
    b = torch.nn.Parameter(torch.randn(100, dtype=torch.bfloat16))
    c = torch.nn.Parameter(torch.randn(10))
    frozen = torch.nn.Parameter(torch.randn(5))
    masks = [torch.rand(100) < 0.5, torch.rand(100) < 0.5, None, None]
    opt = MaskedAdam([{"params": [a, b]}, {"params": [c, frozen], "lr": 0.1}], masks, lr=1e-3)
    before = frozen.detach().clone()
    twins = [x.detach().clone().requires_grad_() for x in (a, b, c)]
    twin_opt = torch.optim.Adam([{"params": twins[:2]}, {"params": twins[2:], "lr": 0.1}], lr=1e-3, foreach=False)
    for _ in range(3):
        for x, t, m in zip((a, b, c), twins, masks, strict=False):
            g = torch.randn(x.shape).to(x.dtype)
            x.grad = g
            t.grad = g if m is None else torch.where(m, g, torch.zeros_like(g))
        opt.step()
        twin_opt.step()
    assert torch.equal(frozen.detach(), before) and frozen not in opt.state
    torch.testing.assert_close(a.detach(), twins[0].detach(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(c.detach(), twins[2].detach(), rtol=1e-6, atol=1e-7)
    # bf16: ours rounds once per step, torch's for-loop after every op: close, not equal.
    torch.testing.assert_close(b.detach().float(), twins[1].detach().float(), rtol=2e-2, atol=2e-2)


def test_cached_step_plan_follows_grads_masks_state_and_new_groups(device):
    """The per-group kernel argument lists are cached across steps: every change that must
    rebuild them (a grad appearing or vanishing, new masks, a loaded state, a new group) does."""
    params, masks = make_problem([(30, 4), (57,), (9,)], 0.5, device, seed=11)
    opt = MaskedAdam(params, masks, lr=1e-2)
    twins, twin_opt = torch_twin("adam", params, masks, dict(lr=1e-2))
    plan = [True, True, True]
    for s in range(8):
        if s == 2:
            plan = [True, False, True]  # param 1 without grad: skipped, then back
        elif s == 4:
            plan = [True, True, True]
        elif s == 5:
            masks = [m & (torch.rand(m.shape, device=device) < 0.7) for m in masks]
            opt.set_masks(masks)
            with torch.no_grad():
                for t, m in zip(twins, masks, strict=True):
                    t.mul_(m)
                    for key in ("exp_avg", "exp_avg_sq"):
                        twin_opt.state[t][key].mul_(m)
        elif s == 6:
            for t in twins:  # a state that differs from the live one
                twin_opt.state[t]["exp_avg"].mul_(0.5)
                twin_opt.state[t]["step"].add_(3)
            opt.load_state_dict(twin_opt.state_dict())
        grads = random_grads(params, 100 + s)
        for p, t, g, m, on in zip(params, twins, grads, masks, plan, strict=True):
            p.grad = g.clone() if on else None
            t.grad = torch.where(m, g, torch.zeros_like(g)) if on else None
        opt.step()
        twin_opt.step()
        for p, t in zip(params, twins, strict=True):
            torch.testing.assert_close(p.detach(), t.detach(), rtol=1e-6, atol=1e-7, msg=f"step {s}")
    extra = torch.nn.Parameter(torch.randn(13, device=device))
    twin_extra = extra.detach().clone().requires_grad_()
    opt.add_param_group({"params": [extra]})
    twin_opt.add_param_group({"params": [twin_extra]})
    g = torch.randn(13, device=device)
    extra.grad, twin_extra.grad = g.clone(), g.clone()
    for p, t in zip(params, twins, strict=True):
        p.grad = t.grad = None
    opt.step()
    twin_opt.step()
    torch.testing.assert_close(extra.detach(), twin_extra.detach(), rtol=1e-6, atol=1e-7)
    assert_pruned_zero(opt, [*params, extra], [*masks, torch.ones(13, dtype=torch.bool, device=device)])


def test_non_contiguous_params(device, isa):
    base = torch.randn(40, 30, device=device)
    mask = torch.rand(30, 40, device=device) < 0.4
    p = base.t().mul(mask).detach().requires_grad_()  # strided leaf? make it one explicitly
    p = torch.empty_strided((30, 40), (1, 30), device=device).copy_(p.detach()).requires_grad_()
    assert not p.is_contiguous()
    opt = MaskedAdam([p], [mask], lr=1e-2)
    twin = p.detach().contiguous().clone().requires_grad_()
    twin_opt = torch.optim.Adam([twin], lr=1e-2, foreach=False)
    for s in range(3):
        g = random_grads([p], s)[0]
        p.grad = g.t().contiguous().t()  # non-contiguous grad too
        twin.grad = torch.where(mask, g, torch.zeros_like(g))
        opt.step()
        twin_opt.step()
    assert p.stride() == (1, 30)
    torch.testing.assert_close(p.detach(), twin.detach(), rtol=1e-6, atol=1e-7)
    assert torch.all(p.detach()[~mask] == 0)


def test_deepcopy_keeps_masks_and_state():
    params, masks = make_problem([(300,)], 0.3, "cpu")
    opt = MaskedAdam(params, masks, lr=1e-2)
    params[0].grad = torch.randn(300)
    opt.step()
    twin = copy.deepcopy({"p": params[0], "opt": opt})
    q, opt2 = twin["p"], twin["opt"]
    g = torch.randn(300)
    params[0].grad, q.grad = g, g.clone()
    opt.step()
    opt2.step()
    assert torch.equal(params[0].detach(), q.detach())


@pytest.mark.parametrize(
    ("masks", "message"),
    [
        (lambda p: [torch.ones(3, dtype=torch.bool)], "got 1 masks for 2 parameters"),
        (
            lambda p: [torch.ones(4, dtype=torch.bool), torch.ones(4, dtype=torch.bool)],
            r"shape \(4,\), expected \(2, 3\)",
        ),
        (lambda p: [torch.ones(4), torch.ones(2, 3, dtype=torch.bool)], "dtype torch.float32, expected torch.bool"),
        (lambda p: [torch.ones(4, dtype=torch.bool, device="meta"), None], "is on meta, expected cpu"),
        (lambda p: ["yes", None], "is a str, not a bool tensor"),
    ],
)
def test_bad_masks_name_the_parameter(masks, message):
    params = [torch.nn.Parameter(torch.randn(4)), torch.nn.Parameter(torch.randn(2, 3))]
    with pytest.raises(ValueError, match=message) as err:
        MaskedAdam(params, masks(params))
    if "parameters" not in message:
        assert "param_groups[0]['params']" in str(err.value)


def test_bad_hyper_parameters_and_dtypes():
    p = torch.nn.Parameter(torch.randn(3))
    with pytest.raises(ValueError, match="Invalid learning rate: -1.0"):
        MaskedAdam([p], lr=-1.0)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 0: 1.0"):
        MaskedAdam([p], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="alpha"):
        MaskedRMSprop([p], alpha=-0.5)
    q = torch.nn.Parameter(torch.randn(3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"param_groups\[0\]\['params'\]\[0\] \(shape \(3,\)\) is torch.float64"):
        MaskedAdam([q])  # refused at construction, naming the parameter
    amsgrad = torch.optim.Adam([torch.nn.Parameter(torch.randn(3))], amsgrad=True)
    with pytest.raises(ValueError, match="does not support amsgrad=True"):
        MaskedAdam([p]).load_state_dict(amsgrad.state_dict())


def test_state_is_compacted_for_masked_params():
    p = torch.nn.Parameter(torch.randn(1000))
    m = torch.zeros(1000, dtype=torch.bool)
    m[::10] = True
    opt = MaskedRMSprop([p], [m])
    p.grad = torch.randn(1000)
    opt.step()
    assert opt.state[p]["square_avg"].shape == (100,)
    assert opt.state_dict()["state"][0]["square_avg"].shape == (1000,)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
@pytest.mark.parametrize(
    ("kind", "dtype"), list(itertools.product(["adam", "rmsprop"], [torch.float32, torch.bfloat16]))
)
def test_cuda_and_cpu_give_identical_bits(kind, dtype):
    results = []
    for device in ("cpu", "cuda"):
        params, masks = make_problem(SHAPES, 0.2, device, dtype=dtype, seed=9)
        opt = MaskedAdam(params, masks, lr=1e-2) if kind == "adam" else MaskedRMSprop(params, masks, momentum=0.9)
        for s in range(4):
            for p, g in zip(params, random_grads(params, s), strict=True):
                p.grad = g
            opt.step()
        results.append([p.detach().cpu() for p in params])
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)
