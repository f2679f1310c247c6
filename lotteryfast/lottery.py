"""The lottery engine: iterative (or one-shot) global magnitude pruning with late resetting, winning
and random tickets, several seeds — generic over tasks (see lotteryfast.tasks.base).

Per seed: level 0 trains the dense network from its initialization and saves the weights at the
late-resetting point (the rewind weights) and at the end. Level k >= 1 prunes — iteratively: a
fraction `rate` of the survivors of level k-1, using the trained weights of level k-1's winning
ticket; one-shot: straight to r_k = 1 - (1 - rate)^k from the trained dense weights — and trains
  * the winning ticket (WT): the mask applied to the rewind weights (the initial weights for
    --reset-to init), and
  * the random ticket (RT): the same mask applied to freshly drawn initial weights.
All (seed, ticket) members of a level are independent, so they train together as one population.
Every finished unit is written to the run directory at once; a rerun skips finished units.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from lotteryfast import distributed
from lotteryfast.config import Config, option
from lotteryfast.runs import RunDir
from lotteryfast.stats import mean_std
from lotteryfast.tasks.base import Member, MemberResult, Params, Task
from lotteryfast.tickets import (
    Masks,
    density,
    fraction_pruned,
    pack_masks,
    prune_masks,
    random_masks_like,
    select_prunable,
    unpack_masks,
)

KINDS = ("wt", "rt", "rp")  # winning ticket, random ticket, random pruning (open_lth's randomly_prune)
_KIND_ID = {"dense": 0, "wt": 1, "rt": 2, "rp": 3}


@dataclass(frozen=True)
class LotteryConfig(Config):
    """How tickets are found and compared (defaults: the paper's)."""

    seeds: int = option(3, "independent pruning processes (experiment seeds)", min=1)
    levels: int = option(20, "pruning levels K", min=0)
    rate: float = option(0.2, "pruning rate p per level, in (0, 1): level k prunes r_k = 1 - (1 - p)^k")
    one_shot: bool = option(False, "prune the trained dense network straight to r_k (instead of iteratively)")
    reset: str = option("epoch:1", "late resetting point: init, epoch:E or update:U", flag="--reset-to")
    tickets: tuple[str, ...] = option(
        ("wt", "rt"),
        "ticket kinds to train: wt (winning: the mask on the rewind weights), rt (random: the mask on fresh "
        "weights), rp (random pruning: a random mask with the winning mask's count per tensor, on the rewind weights)",
        choices=KINDS,
    )
    layerwise: bool = option(False, "prune each tensor by the rate instead of globally")
    prune_biases: bool = option(True, "prune biases with the weights (the paper's rule)", off_flag="--exclude-biases")
    prune_embeddings: bool = option(True, "prune embedding matrices")
    exclude: tuple[str, ...] = option((), "parameter names (or module prefixes) left dense, e.g. fc0")
    seed_base: int = option(0, "the first experiment seed (seeds are seed_base, seed_base + 1, ...)", min=0)

    def check(self) -> None:
        if not 0.0 < self.rate < 1.0:
            raise ValueError(f"rate must be in (0, 1), got {self.rate!r}")
        if not self.tickets:
            raise ValueError("tickets must be a non-empty subset of wt,rt,rp; got nothing")
        if "wt" not in self.tickets and not self.one_shot and self.levels > 1:
            raise ValueError("iterative pruning prunes each level's winning ticket: include wt, or use one-shot")
        parse_reset(self.reset)

    def rewind(self) -> tuple[str, float]:
        """The late-resetting point as (kind, value): ('init', 0), ('epoch', E) or ('update', U)."""
        return parse_reset(self.reset)


def parse_reset(text: str) -> tuple[str, float]:
    """'init' -> ('init', 0); 'epoch:E' -> ('epoch', E); 'update:U' -> ('update', U)."""
    if text == "init":
        return "init", 0.0
    kind, _, value = text.partition(":")
    try:
        number = float(value) if kind == "epoch" else int(value)
    except ValueError:
        number = -1
    if kind not in ("epoch", "update") or number < 0 or (kind == "epoch" and math.isnan(number)):
        raise ValueError(f"reset must be init, epoch:E (E >= 0) or update:U (U >= 0 integer); got {text!r}")
    return kind, float(number)


def derived_seed(*parts: int) -> int:
    """A well-mixed 31-bit seed from integer parts (independent streams per seed/level/kind)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0] & 0x7FFFFFFF)


@dataclass
class LevelSummary:
    level: int
    kind: str
    fraction_pruned: float
    mean: float
    std: float
    values: list[float]


Bar = Callable[[int, str], Any]


def _no_bar(total: int, desc: str) -> Any:
    class _Null:
        n = 0

        def update(self, k: int = 1) -> None:
            self.n += k

        def close(self) -> None:
            pass

    return _Null()


class Lottery:
    """Runs one lottery experiment of `task` into `run` (resumable)."""

    def __init__(
        self,
        task: Task,
        cfg: LotteryConfig,
        run: RunDir,
        *,
        bar: Bar = _no_bar,
        log: Callable[[str], None] = lambda s: None,
        tensorboard: bool | None = None,
    ):
        self.task, self.cfg, self.run_dir = task, cfg, run
        self.bar, self.log = bar, log
        # TensorBoard event files per unit: asked for, else as the run directory says (its
        # config.json "tensorboard", written by the CLI), else off.
        if tensorboard is None and run is not None:
            tensorboard = bool(run.config.get("tensorboard", False))
        self.tensorboard = bool(tensorboard)
        self.progress_units = int(getattr(task, "progress_units", 0))  # e.g. games per member
        self._masks: dict[tuple[int, int], Masks] = {}
        self.seeds = [cfg.seed_base + i for i in range(cfg.seeds)]
        names = list(task.init_params(0))
        chosen = select_prunable(names, biases=cfg.prune_biases, embeddings=cfg.prune_embeddings, exclude=cfg.exclude)
        self.prunable = task.prunable(chosen)
        if not self.prunable:
            raise ValueError("no parameter left to prune (check the exclusion options)")

    # --- the experiment -----------------------------------------------------------------------
    def run(self, executor: Any = None, members_per_job: int | None = None) -> list[LevelSummary]:
        """Trains every unfinished unit and returns the summary. The work is a graph of jobs
        (:mod:`lotteryfast.jobs`); `executor` runs it (default: in this process, each level's
        members as one population)."""
        from lotteryfast.executors import LocalExecutor, run_graph
        from lotteryfast.jobs import experiment_jobs

        executor = executor or LocalExecutor({str(self.run_dir.path): self})
        run_graph(experiment_jobs(self, members_per_job), executor)
        return self.summary()

    def train_units(self, level: int, units: list[tuple[int, str]]) -> None:
        """Trains the unfinished ones of `units` ((seed, ticket kind) pairs of `level`) together
        and writes each as it is finished."""
        units = [(s, k) for s, k in units if not self.run_dir.finished(s, level, k)]
        if units:
            if level == 0:
                self._level_zero([s for s, _ in units])
            else:
                members = [self._member(s, level, k) for s, k in units]
                pruned = 100 * fraction_pruned(self.cfg.rate, level)
                results = self._train(members, f"level {level}/{self.cfg.levels} ({pruned:.1f} % pruned)")
                for (s, k), member, result in zip(units, members, results, strict=True):
                    self._save_unit(s, level, k, member, result)
        distributed.barrier()  # other ranks read what rank 0 wrote

    def _level_zero(self, todo: list[int]) -> None:
        kind, value = self.cfg.rewind()
        members = [
            Member(
                self.task.init_params(s),
                None,
                derived_seed(s, 0, 0),
                rewind_epochs=value if kind == "epoch" else None,
                rewind_updates=int(value) if kind == "update" else None,
            )
            for s in todo
        ]
        results = self._train(members, f"level 0/{self.cfg.levels} (dense)")
        for s, member, result in zip(todo, members, results, strict=True):
            if kind != "init" and result.rewind is None:
                raise RuntimeError(f"training ended before the late-resetting point {self.cfg.reset} was reached")
            self._save_unit(s, 0, "dense", member, result)

    def _train(self, members: list[Member], desc: str) -> list[MemberResult]:
        self.log(f"{desc}: training {len(members)} ticket(s)")
        bar = self.bar(self.progress_units * len(members), desc)
        try:
            return self.task.train(members, progress=bar)
        finally:
            bar.close()

    def _member(self, seed: int, level: int, kind: str) -> Member:
        masks = self.masks(seed, level)
        if kind == "wt":
            init = self._rewind_weights(seed)
        elif kind == "rp":
            masks = random_masks_like(masks, derived_seed(seed, level, _KIND_ID["rp"], 1))
            init = self._rewind_weights(seed)
        else:
            draw = getattr(self.task, "random_params", self.task.init_params)
            init = draw(derived_seed(seed, level, _KIND_ID["rt"], 1))
        init = {n: (p * masks[n] if n in masks else p.clone()) for n, p in init.items()}
        # WT, RT and RP of one (seed, level) see the same environment and sampling streams: a paired comparison.
        return Member(init, masks, derived_seed(seed, level, 0))

    def _rewind_weights(self, seed: int) -> Params:
        if self.cfg.rewind()[0] == "init":
            return self.task.init_params(seed)
        return torch.load(self.run_dir.unit(seed, 0, "dense") / "rewind.pt")

    # --- masks --------------------------------------------------------------------------------
    def masks(self, seed: int, level: int) -> Masks:
        """The mask of (seed, level), computed once and stored bit-packed in the run directory."""
        if (seed, level) in self._masks:
            return self._masks[(seed, level)]
        path = self.masks_path(seed, level)
        if distributed.broadcast(path.exists()):  # one decision for all ranks: same collectives everywhere
            self._masks[(seed, level)] = unpack_masks(torch.load(path))
            return self._masks[(seed, level)]
        if self.cfg.one_shot:
            trained = self._trained(seed, 0, "dense")
            masks = prune_masks(
                {n: trained[n] for n in self.prunable},
                None,
                fraction_pruned(self.cfg.rate, level),
                layerwise=self.cfg.layerwise,
            )
        else:
            previous = None if level == 1 else self.masks(seed, level - 1)
            trained = self._trained(seed, level - 1, "dense" if level == 1 else "wt")
            masks = prune_masks(
                {n: trained[n] for n in self.prunable}, previous, self.cfg.rate, layerwise=self.cfg.layerwise
            )
        masks = distributed.broadcast(masks)  # every rank trains with rank 0's masks
        self.run_dir.save_torch(path, pack_masks(masks))
        self._masks[(seed, level)] = masks
        return masks

    def masks_path(self, seed: int, level: int):
        """Where the masks of (seed, level) are stored."""
        return self.run_dir.path / f"seed{seed}" / f"level{level:02d}" / "masks.pt"

    def _trained(self, seed: int, level: int, kind: str) -> Params:
        return torch.load(self.run_dir.unit(seed, level, kind) / "trained.pt")

    # --- results ------------------------------------------------------------------------------
    def _save_unit(self, seed: int, level: int, kind: str, member: Member, result: MemberResult) -> None:
        unit = self.run_dir.unit(seed, level, kind)
        if kind in ("dense", "wt"):  # the next level prunes these weights
            self.run_dir.save_torch(unit / "trained.pt", result.trained)
        # The ticket itself: its mask (bit-packed) and the weights it was reset to.
        self.run_dir.save_torch(unit / "ticket.pt", {"masks": pack_masks(member.masks or {}), "init": member.params})
        if result.rewind is not None:
            self.run_dir.save_torch(unit / "rewind.pt", result.rewind)
        record = {
            "seed": seed,
            "level": level,
            "kind": kind,
            "fraction_pruned": 1.0 - density(member.masks, result.trained) if member.masks else 0.0,
            "metric": result.metric,
            "metric_name": self.task.metric_name,
            "curve": result.curve,
            "stats": result.stats,
            "finished_at": time.time(),
        }
        if self.tensorboard and self.run_dir.writer:
            from lotteryfast import tensorboard

            where = self.run_dir.path / "tensorboard" / f"seed{seed}" / f"level{level:02d}" / kind
            tensorboard.write_unit(where, self.run_dir.config, record, result.history)
        self.run_dir.save_json(unit / "metrics.json", record)  # written last: marks the unit finished
        self.run_dir.append_log(record)

    def summary(self) -> list[LevelSummary]:
        """Mean and standard deviation over seeds per (level, kind) of everything finished."""
        rows = []
        for level in range(self.cfg.levels + 1):
            for kind in ("dense",) if level == 0 else self.cfg.tickets:
                recs = [
                    self.run_dir.read_metrics(s, level, kind)
                    for s in self.seeds
                    if self.run_dir.finished(s, level, kind)
                ]
                if not recs:
                    continue
                values = [r["metric"] for r in recs]
                mean, std = mean_std(values)
                fraction = statistics.fmean(r["fraction_pruned"] for r in recs)
                rows.append(LevelSummary(level, kind, fraction, mean, std, values))
        self.run_dir.save_json(
            self.run_dir.path / "summary.json",
            {
                "metric": self.task.metric_name,
                "higher_is_better": self.task.higher_is_better,
                "rows": [asdict(r) for r in rows],
            },
        )
        lines = ["level,kind,fraction_pruned,mean,std,n"]
        lines += [f"{r.level},{r.kind},{r.fraction_pruned:.6f},{r.mean:.6g},{r.std:.6g},{len(r.values)}" for r in rows]
        self.run_dir.save_bytes(self.run_dir.path / "summary.csv", ("\n".join(lines) + "\n").encode())
        return rows
