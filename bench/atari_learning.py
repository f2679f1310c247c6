"""Learning curve of one dense A2C network on an Atari game: the quick preset's configuration (32
games, 52 x 40 frames, 16-16-32-32 channels, MLP 256, batches of 16 rollouts x 6 steps, the
paper's optimizer and loss), trained for a number of updates or minutes, printing the mean score of
the last 32 finished games and the policy entropy every 300 updates.

    python bench/atari_learning.py --game Breakout --episodic-life --fire-reset --minutes 20
    python bench/atari_learning.py --game Assault --updates 1200
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import time

import torch

from lotteryfast.tasks.atari import QUICK, AtariTask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--game", default="Breakout")
    ap.add_argument("--updates", type=int, default=0, help="stop after this many updates (0: use --minutes)")
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--episodic-life", action="store_true")
    ap.add_argument("--fire-reset", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--every", type=int, default=300, help="updates between printed lines")
    args = ap.parse_args()
    pp = dataclasses.replace(QUICK.preprocessing, episodic_life=args.episodic_life, fire_reset=args.fire_reset)
    cfg = dataclasses.replace(QUICK, game=args.game, preprocessing=pp)
    torch.manual_seed(args.seed)
    task = AtariTask(cfg)
    model = task.new_model()
    opt = cfg.optim.build(list(model.parameters()), None)
    gen = torch.Generator().manual_seed(args.seed)
    episodes: collections.deque[float] = collections.deque(maxlen=32)
    print(f"{args.game}: {cfg}")
    print("| seconds | updates | agent steps | policy entropy | mean score of the last 32 games |")
    print("|---|---|---|---|---|")
    t0, entropy = time.perf_counter(), []
    batches = task._round_batches(model, args.seed, gen, episodes)
    for updates, batch in enumerate(batches, start=1):
        entropy.append(task.update(model, opt, batch)["entropy"])
        if updates % args.every == 0:
            score = sum(episodes) / len(episodes) if episodes else float("nan")
            print(
                f"| {time.perf_counter() - t0:.0f} | {updates} | {updates * cfg.batch * cfg.rollout} "
                f"| {sum(entropy) / len(entropy):.3f} | {score:.2f} |",
                flush=True,
            )
            entropy = []
        done = updates >= args.updates if args.updates else time.perf_counter() - t0 > 60 * args.minutes
        if done:
            break
    batches.close()


if __name__ == "__main__":
    main()
