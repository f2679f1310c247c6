"""Training speed of A2C on CartPole-v0 with the paper's MLP (128-128-128), 80 % pruned:
lotteryfast's population trainer against the plain loop users write (gymnasium SyncVectorEnv,
torch.nn MLP, torch.optim.RMSprop followed by a mask multiply), measured in the same run.

    python bench/a2c_speed.py                 # table: env-steps/s of each
    python bench/a2c_speed.py --updates 20    # smoke run
"""

from __future__ import annotations

import argparse
import platform
import time

import gymnasium as gym
import torch
from torch import nn

from lotteryfast.tasks.base import Member
from lotteryfast.tasks.classic import ClassicConfig, ClassicControlTask
from lotteryfast.tickets import prune_masks

ENVS, ROLLOUT = 32, 4


def plain_loop(updates: int, density: float = 0.2, seed: int = 0) -> float:
    """env-steps/s of a straightforward A2C loop over a gymnasium SyncVectorEnv of 32 CartPoles."""
    torch.manual_seed(seed)
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v0") for _ in range(ENVS)])
    trunk = nn.Sequential(nn.Linear(4, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU())
    policy, value = nn.Linear(128, 2), nn.Linear(128, 1)
    params = [*trunk.parameters(), *policy.parameters(), *value.parameters()]
    masks = [torch.rand(p.shape) < density for p in params]
    with torch.no_grad():
        for p, m in zip(params, masks, strict=True):
            p.mul_(m)
    opt = torch.optim.RMSprop(params, lr=1e-4, alpha=0.99, eps=1e-8)
    obs, _ = envs.reset(seed=seed)
    obs = torch.as_tensor(obs)
    start = time.perf_counter()
    for _ in range(updates):
        logps, values, ents, rewards, dones = [], [], [], [], []
        for _ in range(ROLLOUT):
            h = trunk(obs)
            dist = torch.distributions.Categorical(logits=policy(h))
            action = dist.sample()
            logps.append(dist.log_prob(action))
            ents.append(dist.entropy())
            values.append(value(h).squeeze(-1))
            obs, reward, term, trunc, _ = envs.step(action.numpy())
            obs = torch.as_tensor(obs)
            rewards.append(torch.as_tensor(reward, dtype=torch.float32) / 100)
            dones.append(torch.as_tensor(term | trunc, dtype=torch.float32))
        with torch.no_grad():
            ret = value(trunk(obs)).squeeze(-1)
        returns = []
        for r, d in zip(reversed(rewards), reversed(dones), strict=True):
            ret = r + 0.99 * (1 - d) * ret
            returns.insert(0, ret)
        adv = torch.stack(returns) - torch.stack(values)
        loss = -(torch.stack(logps) * adv.detach()).mean() + 0.5 * adv.pow(2).mean() - 0.01 * torch.stack(ents).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(params, masks)
    return updates * ROLLOUT * ENVS / (time.perf_counter() - start)


def lotteryfast_population(members: int, games: int, density: float = 0.2) -> float:
    """env-steps/s of ClassicControlTask.train on `members` tickets at once (a level of the experiment)."""
    task = ClassicControlTask(ClassicConfig(epochs=1, games_per_epoch=games, last_episodes=min(100, games)))
    pop = []
    for s in range(members):
        params = task.init_params(s)
        masks = prune_masks(params, None, 1 - density)
        pop.append(Member({k: v * masks[k] for k, v in params.items()}, masks, s))
    start = time.perf_counter()
    results = task.train(pop)
    return results[0].stats["env_steps"] * members / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--updates", type=int, default=600, help="updates of the plain loop")
    ap.add_argument("--games", type=int, default=400, help="games per ticket for lotteryfast")
    args = ap.parse_args()
    print(f"A2C CartPole-v0, MLP 128-128-128, 80 % pruned; {platform.machine()}, {torch.get_num_threads()} threads")
    base = plain_loop(args.updates)
    rows = [("plain loop: SyncVectorEnv(32) + torch RMSprop + mask multiply", base)]
    for members in (1, 6):
        rows.append(
            (
                f"lotteryfast population trainer, {members} ticket(s) x 32 envs",
                lotteryfast_population(members, args.games),
            )
        )
    print("| trainer | env-steps/s | vs plain loop |\n|---|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
