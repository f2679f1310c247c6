"""Typed configs: checks that name the field and value, CLI flags generated from the fields,
typed presets of every built-in task, the one task registry."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

import pytest

from lotteryfast.config import Config, add_flags, apply_flags, given_flags, option
from lotteryfast.lottery import LotteryConfig
from lotteryfast.run import build_parser
from lotteryfast.tasks.registry import BUILTIN
from lotteryfast.tasks.spec import Preset, TaskSpec, find_task


def _leaf_fields(cls: type[Config]):
    for f in dataclasses.fields(cls):
        default = f.default
        if isinstance(default, Config):
            yield from _leaf_fields(type(default))
        elif f.metadata.get("cli", True):
            yield f


@pytest.mark.parametrize("name", list(BUILTIN))
def test_every_field_of_every_task_config_is_a_flag_with_its_help(name):
    spec = BUILTIN[name]()
    parser = build_parser(spec)
    options = {s: a for a in parser._actions for s in a.option_strings}
    for cls in (LotteryConfig, spec.config_class):
        for f in _leaf_fields(cls):
            flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
            assert flag in options, f"{cls.__name__}.{f.name} has no flag {flag}"
            assert f.metadata["help"].split(" (")[0].replace("%", "%%")[:20] in options[flag].help


@pytest.mark.parametrize("name", list(BUILTIN))
def test_presets_are_typed_config_instances_and_round_trip_through_json(name):
    spec = BUILTIN[name]()
    assert {"quick", "paper"} <= set(spec.presets)
    for preset in spec.presets.values():
        assert isinstance(preset, Preset) and isinstance(preset.lottery, LotteryConfig)
        assert isinstance(preset.task, spec.config_class)
        assert type(preset.task).from_dict(preset.task.to_dict()) == preset.task
        assert LotteryConfig.from_dict(preset.lottery.to_dict()) == preset.lottery


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LotteryConfig(seeds=0), "LotteryConfig.seeds must be >= 1, got 0"),
        (lambda: LotteryConfig(levels=-1), "LotteryConfig.levels must be >= 0, got -1"),
        (lambda: LotteryConfig(rate=1.0), "rate must be in (0, 1), got 1.0"),
        (lambda: LotteryConfig(rate=float("nan")), "LotteryConfig.rate must be a number, got nan"),
        (lambda: LotteryConfig(tickets=("wt", "xt")), "LotteryConfig.tickets must be one of wt, rt, rp; got 'xt'"),
        (lambda: LotteryConfig(seeds=2.5), "LotteryConfig.seeds must be an integer, got 2.5"),
        (lambda: LotteryConfig(one_shot=1), "LotteryConfig.one_shot must be true or false, got 1"),
    ],
)
def test_bad_values_are_refused_naming_field_and_value(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_task_configs_validate_their_fields():
    from lotteryfast.tasks.atari import AtariConfig
    from lotteryfast.tasks.classic import ClassicConfig
    from lotteryfast.tasks.lstm import LSTMConfig
    from lotteryfast.tasks.mt import MTConfig
    from lotteryfast.tasks.optimizers import AdamConfig

    with pytest.raises(ValueError, match=r"ClassicConfig.envs must be >= 1, got 0"):
        ClassicConfig(envs=0)
    with pytest.raises(ValueError, match=r"ClassicConfig.hidden must be >= 1, got 0"):
        ClassicConfig(hidden=(64, 0))
    with pytest.raises(ValueError, match=r"LSTMConfig.dropout must be < 1.0, got 1.5"):
        LSTMConfig(dropout=1.5)
    with pytest.raises(ValueError, match=r"MTConfig.prune_scope must be one of all, layers; got 'some'"):
        MTConfig(prune_scope="some")
    with pytest.raises(ValueError, match=r"AdamConfig.beta2 must be < 1.0, got 1.0"):
        AdamConfig(beta2=1.0)
    with pytest.raises(ValueError, match=r"AtariConfig.threads must be >= 0, got -1"):
        AtariConfig(threads=-1)
    # 0 is documented as meaningful for both: one thread per core, synchronous rounds.
    cfg = AtariConfig(threads=0, actor_batch=0)
    assert cfg.threads == 0 and cfg.actor_batch == 0


def _parse(argv):
    spec = find_task(argv[0])
    return spec, build_parser(spec).parse_args(argv)


def test_cli_accepts_zero_threads_and_actor_batch_for_atari():
    from lotteryfast.run import resolve

    spec, args = _parse(["atari", "--threads", "0", "--actor-batch", "0", "--episodic-life", "--height", "40"])
    task_cfg, _, resolved, _ = resolve(args, spec)
    assert task_cfg.threads == 0 and task_cfg.actor_batch == 0
    assert task_cfg.preprocessing.episodic_life and task_cfg.preprocessing.height == 40
    assert task_cfg.preprocessing.width == spec.presets["quick"].task.preprocessing.width  # the preset's, untouched
    assert resolved["task_config"]["preprocessing"]["height"] == 40


def test_cli_flags_of_every_kind_reach_the_configs():
    from lotteryfast.run import resolve

    spec, args = _parse(
        [
            "cartpole",
            "--hidden",
            "64,32",
            "--lr",
            "3e-4",
            "--no-prune-biases",
            "--tickets",
            "wt",
            "--one-shot",
            "--exclude",
            "fc0,value",
            "--reset-to",
            "init",
            "--preset",
            "paper",
            "--gamma",
            "0.9",
        ]
    )
    task_cfg, lottery, _, _ = resolve(args, spec)
    paper = spec.presets["paper"]
    assert task_cfg == dataclasses.replace(
        paper.task, hidden=(64, 32), gamma=0.9, optim=dataclasses.replace(paper.task.optim, lr=3e-4)
    )
    assert lottery == dataclasses.replace(
        paper.lottery, prune_biases=False, tickets=("wt",), one_shot=True, exclude=("fc0", "value"), reset="init"
    )
    _, args = _parse(["cartpole", "--exclude-biases"])
    assert resolve(args, spec)[1].prune_biases is False


def test_a_new_field_is_a_new_flag_without_other_edits():
    @dataclass(frozen=True)
    class Mine(Config):
        width: int = option(8, "layer width", min=1)
        names: tuple[str, ...] = option(("a",), "names")
        fast: bool = option(False, "go fast")
        scale: float = option(1.0, "a scale", min=0.0)

    parser = argparse.ArgumentParser()
    flags = add_flags(parser, Mine, "m.")
    assert flags == ["--width", "--names", "--fast", "--scale"]
    ns = parser.parse_args(["--width", "16", "--names", "x, y", "--fast"])
    assert apply_flags(Mine(), ns, "m.") == Mine(width=16, names=("x", "y"), fast=True)
    assert given_flags(Mine, ns, "m.") == ["--width", "--names", "--fast"]
    with pytest.raises(ValueError, match=r"Mine.width must be >= 1, got 0"):
        apply_flags(Mine(), parser.parse_args(["--width", "0"]), "m.")
    with pytest.raises(ValueError, match=r"Mine has no field\(s\) depth"):
        Mine.from_dict({"depth": 3})


def test_unknown_tasks_and_presets_are_one_line_errors(capsys):
    from lotteryfast.run import main

    assert main(["pong"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown task 'pong'" in err and "cartpole" in err
    assert main(["nosuchmodule_xyz:make"]) == 2
    assert "cannot import 'nosuchmodule_xyz'" in capsys.readouterr().err
    assert main(["lotteryfast.tasks.registry:nothing_here"]) == 2
    assert "has no attribute 'nothing_here'" in capsys.readouterr().err
    assert main(["lotteryfast.tasks.registry:BUILTIN"]) == 2
    assert "expected a TaskSpec, a Task or a function" in capsys.readouterr().err
    assert main(["cartpole", "--preset", "huge"]) == 2
    assert "unknown preset 'huge' for task cartpole; choose one of: paper, quick" in capsys.readouterr().err


def test_task_spec_checks_its_presets():
    with pytest.raises(ValueError, match="default preset 'quick' is not among its presets"):
        TaskSpec("x", {"paper": Preset(LotteryConfig(), LotteryConfig())}, lambda c, ctx: None)


def test_atari_preprocessing_is_the_pools_struct_field_for_field():
    _ale = pytest.importorskip("lotteryfast._ale")
    from lotteryfast.envs.atari import AtariPreprocessing

    cpp = _ale.Preprocessing()
    fields = [f.name for f in dataclasses.fields(AtariPreprocessing)]
    assert {n for n in dir(cpp) if not n.startswith("_")} == set(fields)
    for name in fields:  # the defaults come from csrc/ale/pool.h
        assert getattr(AtariPreprocessing(), name) == pytest.approx(getattr(cpp, name)), name
    custom = AtariPreprocessing(
        frameskip=3,
        max_pool=False,
        height=40,
        width=30,
        stack=2,
        noop_max=5,
        episodic_life=True,
        fire_reset=True,
        clip_rewards=True,
        repeat_action_probability=0.25,
        max_episode_steps=99,
        full_action_space=True,
    )
    sent = custom.to_cpp()
    for name in fields:
        assert getattr(sent, name) == getattr(custom, name), name
