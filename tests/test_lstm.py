"""WikiText-2 loading and the LSTM language-model task (tiny synthetic corpus for speed)."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import shutil

import pytest
import torch

from lotteryfast.data import wikitext
from lotteryfast.tasks.base import Member
from lotteryfast.tasks.lstm import LSTMConfig, LSTMLanguageModelTask
from lotteryfast.tickets import prune_masks

REAL = wikitext.default_dir()
TINY = LSTMConfig(emb=16, hidden=16, bptt=5, batch=4, epochs=2, batches_per_epoch=6, eval_batch=2)


def synthetic_corpus(n_types: int = 50, seed: int = 0) -> wikitext.Corpus:
    g = torch.Generator().manual_seed(seed)
    vocab = [f"w{i}" for i in range(n_types)]
    split = lambda n: torch.randint(n_types, (n,), generator=g)  # noqa: E731
    return wikitext.Corpus(vocab, split(2000), split(300), split(300))


@pytest.mark.skipif(not REAL.is_dir(), reason=f"WikiText-2 not found at {REAL}")
def test_real_wikitext2_statistics():
    c = wikitext.load()
    assert c.n_tokens == 33278 and c.train.numel() == 2_088_628
    assert c.vocab[c.train[-1]] == "<eos>"


def write_split_files(tmp_path, text="a b c\nd e\n"):
    for split in wikitext.SPLITS:
        (tmp_path / f"wiki.{split}.tokens").write_text(text)


def test_missing_and_corrupt_files_name_the_file(tmp_path):
    with pytest.raises(wikitext.DataError, match=r"wiki\.train\.tokens not found in"):
        wikitext.load(tmp_path)
    write_split_files(tmp_path)
    good = hashlib.sha256(b"a b c\nd e\n").hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{good}  wiki.train.tokens\n{'0' * 64}  wiki.test.tokens\n")
    with pytest.raises(wikitext.DataError, match=r"wiki\.test\.tokens does not match its SHA256"):
        wikitext.load(tmp_path)
    (tmp_path / "SHA256SUMS").write_text(f"{good}  wiki.train.tokens\n")
    c = wikitext.load(tmp_path)
    assert c.vocab == ["a", "b", "c", "<eos>", "d", "e"] and c.train.tolist() == [0, 1, 2, 3, 4, 5, 3]


@pytest.mark.skipif(not REAL.is_dir(), reason=f"WikiText-2 not found at {REAL}")
def test_real_checksums_are_verified(tmp_path):
    for f in REAL.iterdir():
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "wiki.valid.tokens").chmod(0o644)
    with open(tmp_path / "wiki.valid.tokens", "a") as f:
        f.write("tampered\n")
    with pytest.raises(wikitext.DataError, match="wiki.valid.tokens does not match"):
        wikitext.load(tmp_path)


def test_batchify_makes_contiguous_streams():
    b = wikitext.batchify(torch.arange(10), 3)
    assert b.tolist() == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]


def test_masks_hold_through_lstm_training_and_rewind_is_saved(device):
    """On CUDA this runs through cuDNN's LSTM with its flat weight buffer."""
    task = LSTMLanguageModelTask(TINY, device=device, corpus=synthetic_corpus())
    params = task.init_params(0)
    assert {"encoder.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l1", "rnn.bias_ih_l1", "decoder.weight"} <= set(params)
    masks = prune_masks(params, None, 0.8)
    init = {k: v * masks[k] for k, v in params.items()}
    res = task.train([Member(init, masks, 3, rewind_updates=4)])[0]
    for k, m in masks.items():
        assert torch.all(res.trained[k][~m] == 0), k
        assert torch.all(res.rewind[k][~m] == 0), k
    assert math.isfinite(res.metric) and 0 < res.metric < 10
    assert len(res.curve) == 2 and res.stats["updates"] == 12


def test_training_is_deterministic_and_learns():
    # A corpus with structure (a cycle of 7 tokens) so that 12 updates must lower the loss.
    cycle = torch.arange(2300) % 7
    corpus = wikitext.Corpus([f"w{i}" for i in range(50)], cycle[:2000], cycle[2000:2150], cycle[2000:2300])
    cfg = dataclasses.replace(TINY, optim=dataclasses.replace(TINY.optim, lr=1e-2))
    task = LSTMLanguageModelTask(cfg, corpus=corpus)
    a = task.train([Member(task.init_params(1), None, 7)])[0]
    b = task.train([Member(task.init_params(1), None, 7)])[0]
    assert a.metric == b.metric and all(torch.equal(a.trained[k], b.trained[k]) for k in a.trained)
    untrained = task.build()
    untrained.load_state_dict(task.init_params(1))
    assert a.metric < task.evaluate(untrained, corpus.test) - 0.5


DDP_CFG = LSTMConfig(emb=16, hidden=16, bptt=5, batch=4, epochs=1, batches_per_epoch=6, dropout=0.0, eval_batch=2)


def _pruned_member(task) -> Member:
    """Half the weights pruned: the decoder keeps 12 % of its own and runs through
    lotteryfast.masked_linear on CPU."""
    params = task.init_params(0)
    masks = prune_masks(params, None, 0.5)
    assert 0 < masks["decoder.weight"].float().mean() < 0.4
    return Member({k: v * masks[k] for k, v in params.items()}, masks, 3)


def _ddp_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        task = LSTMLanguageModelTask(DDP_CFG, corpus=synthetic_corpus())
        res = task.train([_pruned_member(task)])[0]
        torch.save({"trained": res.trained, "metric": res.metric}, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_data_parallel_ranks_agree_and_match_one_process(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    for k in r0["trained"]:
        assert torch.equal(r0["trained"][k], r1["trained"][k]), k
    task = LSTMLanguageModelTask(DDP_CFG, corpus=synthetic_corpus())
    single = task.train([_pruned_member(task)])[0]
    for k, v in single.trained.items():
        torch.testing.assert_close(r0["trained"][k], v, rtol=1e-4, atol=1e-5)
    assert r0["metric"] == pytest.approx(single.metric, rel=1e-4)


def test_torchrun_cli_two_processes_rank0_writes(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    data = tmp_path / "data"
    data.mkdir()
    g = torch.Generator().manual_seed(0)
    for split, n in (("train", 12000), ("valid", 1500), ("test", 1500)):
        words = [f"w{int(i)}" for i in torch.randint(300, (n,), generator=g)]
        lines = [" ".join(words[i : i + 20]) for i in range(0, n, 20)]
        (data / f"wiki.{split}.tokens").write_text("\n".join(lines) + "\n")
    # every type appears in train so valid/test are in-vocabulary
    with open(data / "wiki.train.tokens", "a") as f:
        f.write(" ".join(f"w{i}" for i in range(300)) + "\n")
    out = tmp_path / "run"
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [
        str(torchrun),
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "lotteryfast.run",
        "lstm",
        "--data",
        str(data),
        "--epochs",
        "1",
        "--batches-per-epoch",
        "3",
        "--levels",
        "1",
        "--seeds",
        "1",
        "--reset-to",
        "update:1",
        "--out",
        str(out),
        "--no-plot",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("lotteryfast: WikiText-2 LSTM") == 1 and "2 process(es)" in proc.stdout
    rows = (out / "summary.csv").read_text().splitlines()
    assert rows[0].startswith("level,kind") and len(rows) == 4  # dense, wt, rt
