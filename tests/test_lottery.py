"""The lottery engine on a fast fake task: schedules, masks, rewinding, random tickets, resume."""

from __future__ import annotations

import json

import pytest
import torch

from lotteryfast.lottery import Lottery, LotteryConfig, derived_seed, parse_reset
from lotteryfast.runs import RunConfigMismatchError, RunDir
from lotteryfast.tasks.base import Member, MemberResult
from lotteryfast.tickets import fraction_pruned, pack_masks, unpack_masks


class FakeTask:
    """Deterministic 'training': weights drift by a seeded amount; saves rewind weights halfway."""

    name, metric_name, higher_is_better = "fake", "score", True

    def __init__(self, fail_at_level: int | None = None):
        self.calls: list[list[Member]] = []
        self.fail_at_level = fail_at_level

    def init_params(self, seed):
        g = torch.Generator().manual_seed(seed)
        return {
            "a.weight": torch.randn(40, 10, generator=g),
            "a.bias": torch.randn(40, generator=g),
            "b.weight": torch.randn(3, 40, generator=g),
        }

    def prunable(self, names):
        return names

    def train(self, members, progress=None):
        if self.fail_at_level is not None and len(self.calls) == self.fail_at_level:
            raise RuntimeError("simulated kill")
        self.calls.append(members)
        out = []
        for m in members:
            g = torch.Generator().manual_seed(m.seed)
            trained = {}
            for k, v in m.params.items():
                t = v + 0.1 * torch.randn(v.shape, generator=g)
                trained[k] = t * m.masks[k] if m.masks and k in m.masks else t
            rewind = {k: (v + t) / 2 for (k, v), t in zip(m.params.items(), trained.values(), strict=True)}
            kept = sum(int(x.sum()) for x in m.masks.values()) if m.masks else 1
            out.append(MemberResult(metric=float(kept), trained=trained, rewind=rewind, curve=[1.0]))
        return out


def run(tmp_path, task=None, **cfg):
    cfg = LotteryConfig(**{"seeds": 2, "levels": 3, "rate": 0.2, **cfg})
    rd = RunDir(tmp_path / "run", {"cfg": repr(cfg)})
    task = task or FakeTask()
    return Lottery(task, cfg, rd), task, rd


def n_kept(masks):
    return sum(int(m.sum()) for m in masks.values())


def test_schedule():
    assert [round(fraction_pruned(0.2, k), 4) for k in range(4)] == [0.0, 0.2, 0.36, 0.488]


def test_iterative_masks_prune_the_winning_ticket_of_the_previous_level(tmp_path):
    lot, _task, rd = run(tmp_path)
    lot.run()
    total = 40 * 10 + 40 + 3 * 40
    for seed in lot.seeds:
        alive, previous = total, None
        for level in range(1, 4):
            masks = lot.masks(seed, level)
            alive -= round(0.2 * alive)
            assert n_kept(masks) == alive
            if previous is not None:  # nested
                assert all(torch.all(masks[k] <= previous[k]) for k in masks)
            # pruned: the smallest magnitudes of the previous level's trained winning ticket
            src = torch.load(rd.unit(seed, level - 1, "dense" if level == 1 else "wt") / "trained.pt")
            kept = torch.cat([src[k][masks[k]].abs() for k in masks])
            dropped = torch.cat([src[k][~masks[k] & (previous[k] if previous else True)].abs() for k in masks])
            assert kept.min() >= dropped.max()
            previous = masks


def test_winning_ticket_rewinds_and_random_ticket_is_redrawn(tmp_path):
    lot, task, rd = run(tmp_path)
    lot.run()
    level1 = task.calls[1]
    assert len(level1) == 4  # 2 seeds x (wt, rt), trained together
    for i, seed in enumerate(lot.seeds):
        wt, rt = level1[2 * i], level1[2 * i + 1]
        masks = lot.masks(seed, 1)
        rewind = torch.load(rd.unit(seed, 0, "dense") / "rewind.pt")
        for k in masks:
            assert torch.equal(wt.params[k], rewind[k] * masks[k])  # late reset to the saved weights
            assert torch.equal(rt.masks[k], wt.masks[k])  # same mask
            assert torch.all(rt.params[k][~masks[k]] == 0)
            assert not torch.equal(rt.params[k], wt.params[k])  # fresh draw
        fresh = task.init_params(derived_seed(seed, 1, 2, 1))
        assert torch.equal(rt.params["a.weight"], fresh["a.weight"] * masks["a.weight"])


def test_random_pruning_keeps_the_winning_count_per_tensor_on_the_rewind_weights(tmp_path):
    lot, task, rd = run(tmp_path, tickets=("wt", "rt", "rp"), levels=2)
    lot.run()
    level2 = task.calls[2]
    assert [m.seed for m in level2[:3]] == [level2[0].seed] * 3  # paired: same streams
    wt, rp = level2[0], level2[2]
    rewind = torch.load(rd.unit(lot.seeds[0], 0, "dense") / "rewind.pt")
    for k in wt.masks:
        assert int(rp.masks[k].sum()) == int(wt.masks[k].sum())  # the same count per tensor
        assert torch.equal(rp.params[k], rewind[k] * rp.masks[k])  # on the rewind weights
    assert any(not torch.equal(rp.masks[k], wt.masks[k]) for k in wt.masks)  # but another mask
    saved = unpack_masks(torch.load(rd.unit(lot.seeds[0], 2, "rp") / "ticket.pt")["masks"])
    assert all(torch.equal(saved[k], rp.masks[k]) for k in saved)
    again, task2, _ = run(tmp_path / "again", tickets=("wt", "rt", "rp"), levels=2)
    again.run()
    assert all(torch.equal(task2.calls[2][2].masks[k], rp.masks[k]) for k in rp.masks)  # same seed, same mask
    rows = {(r.level, r.kind) for r in lot.summary()}
    assert (2, "rp") in rows


def test_reset_to_init_uses_the_initial_weights(tmp_path):
    lot, task, _ = run(tmp_path, reset="init", levels=1)
    lot.run()
    wt = task.calls[1][0]
    init = task.init_params(lot.seeds[0])
    assert torch.equal(wt.params["a.weight"], init["a.weight"] * wt.masks["a.weight"])


def test_one_shot_prunes_the_dense_network_to_r_k(tmp_path):
    lot, _task, rd = run(tmp_path, one_shot=True, levels=3, tickets=("rt",))
    lot.run()
    total = 40 * 10 + 40 + 3 * 40
    dense = torch.load(rd.unit(0, 0, "dense") / "trained.pt")
    for level in range(1, 4):
        masks = lot.masks(0, level)
        assert total - n_kept(masks) == round(fraction_pruned(0.2, level) * total)
        kept = torch.cat([dense[k][masks[k]].abs() for k in masks])
        dropped = torch.cat([dense[k][~masks[k]].abs() for k in masks])
        assert kept.min() >= dropped.max()


def test_resume_after_a_kill_redoes_nothing_and_gives_the_same_results(tmp_path):
    full, _, _full_dir = run(tmp_path / "a")
    expected = [(r.level, r.kind, r.mean) for r in full.run()]
    killed, task, _ = run(tmp_path / "b", task=FakeTask(fail_at_level=2))
    with pytest.raises(RuntimeError, match="simulated kill"):
        killed.run()
    assert len(task.calls) == 2  # levels 0 and 1 finished
    again = FakeTask()
    resumed, _, _ = run(tmp_path / "b", task=again)
    got = [(r.level, r.kind, r.mean) for r in resumed.run()]
    assert len(again.calls) == 2  # only levels 2 and 3
    assert got == expected
    assert len((tmp_path / "b" / "run" / "metrics.jsonl").read_text().splitlines()) == 2 + 3 * 4


def test_mismatched_config_is_refused_and_nothing_is_lost(tmp_path):
    lot, _, _rd = run(tmp_path, levels=1)
    lot.run()
    before = sorted(p.name for p in (tmp_path / "run").rglob("*"))
    with pytest.raises(RunConfigMismatchError, match="different config"):
        RunDir(tmp_path / "run", {"cfg": "something else"})
    assert sorted(p.name for p in (tmp_path / "run").rglob("*")) == before
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert {r["kind"] for r in summary["rows"]} == {"dense", "wt", "rt"}


def test_layerwise_prunes_each_tensor_by_the_rate(tmp_path):
    lot, _, _ = run(tmp_path, layerwise=True, levels=1)
    lot.run()
    masks = lot.masks(0, 1)
    for k, m in masks.items():
        assert m.numel() - int(m.sum()) == round(0.2 * m.numel()), k


def test_named_exclusion_and_ticket_files(tmp_path):
    lot, _, rd = run(tmp_path, exclude=("b",), levels=1)
    lot.run()
    assert set(lot.masks(0, 1)) == {"a.weight", "a.bias"}
    ticket = torch.load(rd.unit(0, 1, "rt") / "ticket.pt")
    assert set(ticket["masks"]) == {"a.weight", "a.bias"}
    masks = unpack_masks(ticket["masks"])
    assert torch.all(ticket["init"]["a.weight"][~masks["a.weight"]] == 0)


def test_bias_exclusion_and_mask_packing(tmp_path):
    lot, task, _ = run(tmp_path, prune_biases=False, levels=1)
    lot.run()
    masks = lot.masks(0, 1)
    assert set(masks) == {"a.weight", "b.weight"}
    assert "a.bias" not in task.calls[1][0].masks
    packed = pack_masks(masks)
    assert all(torch.equal(a, b) for a, b in zip(unpack_masks(packed).values(), masks.values(), strict=True))
    assert packed["a.weight"]["bits"].numel() == 50  # 400 entries -> 50 bytes


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(rate=1.0), "rate must be in"),
        (dict(rate=0.0), "rate must be in"),
        (dict(levels=-1), "levels must be"),
        (dict(seeds=0), "seeds must be"),
        (dict(tickets=("xt",)), "tickets must be one of wt, rt"),
        (dict(tickets=()), "non-empty subset of wt,rt"),
        (dict(tickets=("rt",)), "include wt"),
        (dict(reset="epoch:x"), "reset must be"),
    ],
)
def test_bad_configs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LotteryConfig(**kwargs)


def test_parse_reset():
    assert parse_reset("init") == ("init", 0.0)
    assert parse_reset("epoch:1") == ("epoch", 1.0)
    assert parse_reset("update:1000") == ("update", 1000.0)


def test_run_files_follow_the_umask_like_ordinary_files(tmp_path):
    import os
    import stat

    from lotteryfast.runs import atomic_write_bytes, atomic_write_json

    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
        atomic_write_json(tmp_path / "b.json", {"k": 1})
        (tmp_path / "plain").write_bytes(b"x")
        for name in ("a.bin", "b.json"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == stat.S_IMODE((tmp_path / "plain").stat().st_mode)
        assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o640
    finally:
        os.umask(old)
