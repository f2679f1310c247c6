"""Cost of the paper's Atari network (Table 1) in the A2C loop, without the emulators: one actor
inference over `--games` observations and one training step on a batch of 128 rollouts x 7 frames
(forward, backward, MaskedAdam at 80 % pruned vs Adam(fused) + mask multiply). From these, the
time per ticket of the paper preset (25 x 1000 batches) follows.

    python bench/atari_net_speed.py --device cuda
    python bench/atari_net_speed.py --steps 1 --batch 8 --games 16   # smoke run
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from lotteryfast.models.atari_net import AtariNet
from lotteryfast.optim import MaskedAdam
from lotteryfast.tickets import prune_masks


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, steps: int, device: str) -> float:
    """Median seconds of fn over `steps` calls after one warm-up call."""
    fn()
    out = []
    for _ in range(steps):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128, help="rollouts per training batch (paper: 128)")
    ap.add_argument("--games", type=int, default=1024, help="observations per actor inference (paper: 1024)")
    args = ap.parse_args()
    dev = args.device
    torch.manual_seed(0)
    net = AtariNet(6).to(dev)
    masks = prune_masks({n: p.detach() for n, p in net.named_parameters()}, None, 0.8)
    frames = torch.randint(0, 255, (7 * args.batch, 4, 105, 80), dtype=torch.uint8, device=dev)
    obs = torch.randint(0, 255, (args.games, 4, 105, 80), dtype=torch.uint8, device=dev)
    actions = torch.randint(6, (7 * args.batch,), device=dev)

    def infer():
        with torch.no_grad():
            net(obs)

    def train_step(opt, after=None):
        logits, values = net(frames)
        loss = F.cross_entropy(logits, actions) + values.pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if after:
            after()

    ours = MaskedAdam(net.parameters(), [masks[n] for n, _ in net.named_parameters()], lr=1e-3, eps=1e-3)
    params = list(net.parameters())
    fmasks = [masks[n].float() for n, _ in net.named_parameters()]
    fused = torch.optim.Adam(params, lr=1e-3, eps=1e-3, fused=True)

    def mask_multiply():
        with torch.no_grad():
            torch._foreach_mul_(params, fmasks)

    t_infer = timed(infer, args.steps, dev)
    t_ours = timed(lambda: train_step(ours), args.steps, dev)
    t_base = timed(lambda: train_step(fused, mask_multiply), args.steps, dev)
    where = torch.cuda.get_device_name() if dev == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"Atari network (Table 1), 105 x 80 x 4 frames; {where}")
    print("| step | ms |\n|---|---|")
    print(f"| actor inference, {args.games} observations | {1e3 * t_infer:.1f} |")
    print(f"| training batch of {args.batch} x 7 frames, lotteryfast MaskedAdam | {1e3 * t_ours:.1f} |")
    print(f"| training batch, Adam(fused) + mask multiply | {1e3 * t_base:.1f} ({t_base / t_ours:.2f}x ours) |")
    per_batch = t_ours + t_infer * 6 * args.batch / args.games  # inference for the batch's 6 x 128 steps
    print(f"paper preset, 25 x 1000 batches: ~{25_000 * per_batch / 3600:.1f} h of network time per ticket")


if __name__ == "__main__":
    main()
