"""Translation: parallel data, subwords, the Transformer, beam search, BLEU and the lottery task."""

from __future__ import annotations

import collections
import dataclasses
import gzip
import hashlib
import itertools
import math

import numpy as np
import pytest
import torch

from lotteryfast import bleu
from lotteryfast.data import parallel, subword
from lotteryfast.data.checksums import DataError
from lotteryfast.models.beam import beam_search, greedy, length_penalty
from lotteryfast.models.transformer import MultiheadAttention, Transformer, TransformerConfig, sinusoidal_positions
from lotteryfast.tasks.base import Member
from lotteryfast.tasks.mt import (
    MTConfig,
    TranslationTask,
    average_checkpoints,
    collate,
    inverse_sqrt_lr,
    make_batches,
)
from lotteryfast.tickets import prune_masks

MT_ROOT = parallel.default_root()
TINY_MODEL = dict(d_model=32, heads=4, ffn=64, enc_layers=1, dec_layers=1, dropout=0.0)


def synthetic_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """A word-for-word 'translation' (fixed dictionary, same order): learnable in a few hundred updates."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(12)]
    table = {w: f"z{(7 * i + 3) % 12}" for i, w in enumerate(words)}
    src = [" ".join(rng.choice(words, size=rng.integers(2, 6))) for _ in range(n)]
    return src, [" ".join(table[w] for w in s.split()) for s in src]


def synthetic_corpus(n_train=600, seed=0) -> parallel.ParallelCorpus:
    train = synthetic_pairs(n_train, seed)
    valid = synthetic_pairs(40, seed + 1)
    test = synthetic_pairs(40, seed + 2)
    return parallel.ParallelCorpus("synthetic", "src", "tgt", {"train": train, "valid": valid, "test": test})


def write_dir(path, corpus: parallel.ParallelCorpus, gz_split: str | None = None):
    for split, (src, tgt) in corpus.splits.items():
        for side, lines in (("src", src), ("tgt", tgt)):
            text = "\n".join(lines) + "\n"
            if split == gz_split:
                with gzip.open(path / f"{split}.{side}.gz", "wt", encoding="utf-8") as f:
                    f.write(text)
            else:
                (path / f"{split}.{side}").write_text(text)


# --- data -------------------------------------------------------------------------------------
@pytest.mark.skipif(not (MT_ROOT / "multi30k").is_dir(), reason=f"MT data not found at {MT_ROOT}")
def test_named_datasets_have_their_documented_sizes():
    m = parallel.load("multi30k")
    assert [len(m.pairs(s)[0]) for s in parallel.SPLITS] == [29000, 1014, 1000]
    assert m.pairs("train")[1][0].startswith("Zwei junge weiße Männer")
    w = parallel.load("wmt14-sample")
    assert [len(w.pairs(s)[0]) for s in parallel.SPLITS] == [10000, 50, 3003]
    assert not any("&apos;" in line or "&quot;" in line for line in w.pairs("train")[0])


def test_directory_dataset_gz_and_errors_name_the_file(tmp_path):
    corpus = synthetic_corpus(50)
    write_dir(tmp_path, corpus, gz_split="train")
    loaded = parallel.load(str(tmp_path))
    assert loaded.splits == corpus.splits
    (tmp_path / "valid.tgt").write_text("only one line\n")
    with pytest.raises(DataError, match=r"valid\.src has 40 lines but .*valid\.tgt has 1"):
        parallel.load(str(tmp_path))
    (tmp_path / "test.src").unlink()
    with pytest.raises(DataError, match=r"test\.src not found"):
        parallel.load(str(tmp_path))
    with pytest.raises(DataError, match=r"unknown dataset 'nope'"):
        parallel.load("nope")


def test_checksum_mismatch_names_the_file(tmp_path):
    write_dir(tmp_path, synthetic_corpus(30))
    good = hashlib.sha256((tmp_path / "train.src").read_bytes()).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{good}  ./train.src\n{'0' * 64}  ./test.tgt\n")
    with pytest.raises(DataError, match=r"test\.tgt does not match its SHA256"):
        parallel.load(str(tmp_path))


def test_subword_vocab_is_cached_and_round_trips(tmp_path):
    corpus = synthetic_corpus(200)
    v1 = subword.joint_vocab(corpus, 40, tmp_path)
    files = list(tmp_path.glob("spm-synthetic-40-*.model"))
    assert len(files) == 1
    v2 = subword.joint_vocab(corpus, 40, tmp_path)
    assert v2.model_proto == v1.model_proto == files[0].read_bytes()
    lines = corpus.pairs("test")[1]
    assert v1.decode(v1.encode(lines)) == lines
    t = v1.tensors(lines, max_len=3)
    assert all(x[-1] == subword.EOS and len(x) <= 3 for x in t)
    other = synthetic_corpus(200, seed=5)
    subword.joint_vocab(other, 40, tmp_path)
    assert len(list(tmp_path.glob("spm-synthetic-40-*.model"))) == 2  # another corpus, another file


# --- model ------------------------------------------------------------------------------------
def test_positions_match_the_formula_in_float64():
    table = sinusoidal_positions(50, 16).double().numpy()
    pos, i = np.arange(50)[:, None], np.arange(8)[None, :]
    angle = pos * np.exp(-i * math.log(10000.0) / 7)
    np.testing.assert_allclose(table, np.concatenate([np.sin(angle), np.cos(angle)], 1), atol=1e-6)


def test_attention_matches_torch_multihead_attention():
    torch.manual_seed(0)
    ours = MultiheadAttention(32, 4, 0.0).double()
    ref = torch.nn.MultiheadAttention(32, 4, batch_first=True).double()
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)
    x, mem = torch.randn(3, 5, 32, dtype=torch.float64), torch.randn(3, 7, 32, dtype=torch.float64)
    pad = torch.zeros(3, 7, dtype=torch.bool)
    pad[1, 4:] = True
    out = ours(x, ours.project_kv(mem), allowed=~pad[:, None, None, :])
    expect, _ = ref(x, mem, mem, key_padding_mask=pad)
    torch.testing.assert_close(out, expect)
    causal = ours(x, ours.project_kv(x), causal=True)
    expect, _ = ref(x, x, x, attn_mask=torch.ones(5, 5, dtype=torch.bool).triu(1))
    torch.testing.assert_close(causal, expect)


def test_padding_does_not_change_the_output_and_incremental_equals_full():
    torch.manual_seed(1)
    model = Transformer(30, TransformerConfig(**TINY_MODEL)).double().eval()
    src = torch.randint(4, 30, (1, 6))
    tgt_in = torch.cat([torch.tensor([[subword.BOS]]), torch.randint(4, 30, (1, 4))], 1)
    alone = model(src, tgt_in)
    padded = model(torch.cat([src, torch.zeros(1, 3, dtype=torch.long)], 1), tgt_in)
    torch.testing.assert_close(alone, padded)
    memory, allowed = model.encode(src)
    cache = [None]
    steps = [model.decode_step(tgt_in[:, t], t, cache, model.memory_kv(memory), allowed) for t in range(5)]
    torch.testing.assert_close(torch.stack(steps, 1).double(), torch.log_softmax(alone, -1), atol=1e-5, rtol=1e-5)


@torch.no_grad()
def exhaustive_best(model, src_row, limit, lenpen):
    """Score of every hypothesis up to `limit` tokens (then </s> forced), by full forward passes."""
    vocab = model.embed.num_embeddings
    allowed = [t for t in range(vocab) if t not in (subword.PAD, subword.BOS, subword.EOS)]
    best = (-math.inf, None)
    for length in range(limit + 1):
        for body in itertools.product(allowed, repeat=length):
            tgt_in = torch.tensor([[subword.BOS, *body]])
            logp = torch.log_softmax(model(src_row[None], tgt_in).double(), -1)[0]
            seq = [*body, subword.EOS]
            score = sum(float(logp[i, tok]) for i, tok in enumerate(seq)) / length_penalty(len(seq), lenpen)
            best = max(best, (score, list(body)))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_search_with_a_wide_beam_finds_the_exhaustive_optimum(seed):
    torch.manual_seed(seed)
    model = Transformer(7, TransformerConfig(**TINY_MODEL)).eval()  # 3 content tokens + <unk>
    src = torch.tensor([[4, 5, 6], [5, 0, 0]])
    for row, n in ((0, 3), (1, 1)):
        limit = int(0.0 * n + 3)
        score, body = exhaustive_best(model, src[row], limit, 0.6)
        # beam 4^3 = 64 keeps every live prefix: beam search is exhaustive.
        got = beam_search(model, src, beam=64, lenpen=0.6, max_len_a=0.0, max_len_b=3)[row]
        assert got == body, (got, body, score)


def test_greedy_matches_argmax_of_full_forward_passes():
    torch.manual_seed(3)
    model = Transformer(20, TransformerConfig(**TINY_MODEL)).eval()
    src = torch.randint(4, 20, (3, 5))
    src[2, 2:] = 0
    out = greedy(model, src, max_len_a=1.0, max_len_b=2)
    for row in range(3):
        limit = int(1.0 * int((src[row] != 0).sum()) + 2)
        seq = [subword.BOS]
        while len(seq) - 1 < limit:
            logp = model(src[row : row + 1, : int((src[row] != 0).sum())], torch.tensor([seq]))[0, -1]
            logp[[subword.PAD, subword.BOS]] = -math.inf
            tok = int(logp.argmax())
            if tok == subword.EOS:
                break
            seq.append(tok)
        assert out[row] == seq[1:]


def test_beam_rejects_bad_width():
    model = Transformer(10, TransformerConfig(**TINY_MODEL))
    with pytest.raises(ValueError, match="beam must be >= 1, got 0"):
        beam_search(model, torch.tensor([[4]]), beam=0)


# --- BLEU -------------------------------------------------------------------------------------
def reference_bleu(hyps: list[list[str]], refs: list[list[str]]) -> float:
    """Papineni et al. corpus BLEU-4 (uniform weights, brevity penalty), written out in numpy."""
    matches, totals = np.zeros(4), np.zeros(4)
    hyp_len = ref_len = 0
    for h, r in zip(hyps, refs, strict=True):
        hyp_len, ref_len = hyp_len + len(h), ref_len + len(r)
        for n in range(1, 5):
            hc = collections.Counter(tuple(h[i : i + n]) for i in range(len(h) - n + 1))
            rc = collections.Counter(tuple(r[i : i + n]) for i in range(len(r) - n + 1))
            matches[n - 1] += sum(min(c, rc[g]) for g, c in hc.items())
            totals[n - 1] += max(len(h) - n + 1, 0)
    if (matches == 0).any():
        return 0.0
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return 100 * bp * math.exp(np.log(matches / totals).mean())


def test_tokenized_bleu_matches_an_independent_implementation():
    rng = np.random.default_rng(0)
    words = ["Haus", "das", "ist", "ein", "E-Mail", "groß", ",", "klein", "."]
    refs = [" ".join(rng.choice(words, size=rng.integers(5, 12))) for _ in range(30)]
    hyps = [" ".join(w for w in r.split() if rng.random() > 0.2) + " ." for r in refs]
    expect = reference_bleu([bleu.tokenize(h).split() for h in hyps], [bleu.tokenize(r).split() for r in refs])
    assert bleu.tokenized_bleu(hyps, refs) == pytest.approx(expect, rel=1e-9)
    assert 10 < expect < 95
    assert bleu.sacre_bleu(refs, refs) == pytest.approx(100.0)
    assert bleu.tokenize("E-Mail-Adresse, gut.") == "E - Mail - Adresse , gut ."
    with pytest.raises(ValueError, match="2 hypotheses for 1 references"):
        bleu.sacre_bleu(["a", "b"], ["a"])


# --- training ---------------------------------------------------------------------------------
def test_batches_cover_every_pair_once_within_the_token_limit():
    rng = np.random.default_rng(0)
    src = [torch.zeros(int(n)) for n in rng.integers(1, 30, 500)]
    tgt = [torch.zeros(int(n)) for n in rng.integers(1, 30, 500)]
    batches = make_batches(src, tgt, 100)
    assert sorted(i for b in batches for i in b) == list(range(500))
    for b in batches:
        longest = max(max(len(src[i]), len(tgt[i])) for i in b)
        assert longest * len(b) <= 100 or len(b) == 1
    s, t_in, t_out = collate(
        [torch.tensor([5, 3]), torch.tensor([6, 7, 3])], [torch.tensor([8, 3]), torch.tensor([9, 10, 3])], [0, 1]
    )
    assert s.tolist() == [[5, 3, 0], [6, 7, 3]]
    assert t_in.tolist() == [[2, 8, 0], [2, 9, 10]] and t_out.tolist() == [[8, 3, 0], [9, 10, 3]]


def test_schedule_and_checkpoint_average():
    assert inverse_sqrt_lr(50, 1e-3, 100) == pytest.approx(5e-4)
    assert inverse_sqrt_lr(100, 1e-3, 100) == pytest.approx(1e-3)
    assert inverse_sqrt_lr(400, 1e-3, 100) == pytest.approx(5e-4)
    a = {"w": torch.tensor([1.0, 0.0]), "n": torch.tensor([1])}
    b = {"w": torch.tensor([3.0, 0.0]), "n": torch.tensor([2])}
    avg = average_checkpoints([a, b])
    assert avg["w"].tolist() == [2.0, 0.0] and avg["n"].tolist() == [2]


TINY_MT = MTConfig(
    dataset="synthetic",
    vocab=40,
    max_tokens=256,
    updates=300,
    warmup=50,
    optim=dataclasses.replace(MTConfig().optim, lr=3e-3),
    average_last=2,
    save_every=20,
    beam=2,
    **TINY_MODEL,
)


@pytest.fixture(scope="module")
def tiny_task():
    return TranslationTask(TINY_MT, corpus=synthetic_corpus())


def test_training_learns_and_is_deterministic(tiny_task):
    cfg = dataclasses.replace(TINY_MT, updates=40)
    task = TranslationTask(cfg, corpus=tiny_task.corpus)
    a = task._train_one(Member(task.init_params(0), None, 0), None)
    b = task._train_one(Member(task.init_params(0), None, 0), None)
    assert a.metric == b.metric and all(torch.equal(a.trained[k], b.trained[k]) for k in a.trained)
    learned = tiny_task._train_one(Member(tiny_task.init_params(0), None, 0), None)
    assert learned.stats["valid_loss"] < a.stats["valid_loss"] - 1.0
    assert learned.metric > 60 and learned.stats["tokenized_bleu"] > 60, learned.stats


def test_masks_hold_through_training_and_averaging_and_rewind_is_saved(tiny_task):
    cfg = dataclasses.replace(TINY_MT, updates=30, prune_scope="layers")
    task = TranslationTask(cfg, corpus=tiny_task.corpus)
    params = task.init_params(1)
    names = task.prunable([n for n, p in Transformer(len(task.vocab), cfg.model).named_parameters()])
    assert "embed.weight" not in names and not any("norm" in n for n in names)
    assert any(".self_attn.q_proj.weight" in n for n in names) and any(".ffn.fc2.bias" in n for n in names)
    masks = prune_masks({n: params[n] for n in names}, None, 0.7)
    result = task._train_one(Member(params, masks, 1, rewind_updates=10), None)
    assert result.rewind is not None and not torch.equal(result.rewind[names[0]], params[names[0]])
    for n, m in masks.items():
        assert torch.all(result.trained[n][~m] == 0) and torch.all(result.rewind[n][~m] == 0), n
    kept = [n for n, m in masks.items() if n.endswith("weight")]
    assert all(torch.any(result.trained[n][masks[n]] != 0) for n in kept)  # kept weights trained
    assert result.stats["checkpoints_averaged"] == 2


def test_each_epoch_is_split_over_the_ranks(tiny_task):
    n = len(tiny_task.batches)
    parts = [tiny_task.epoch_order(5, 2, rank, 3) for rank in range(3)]
    assert len({len(p) for p in parts}) == 1 and len(parts[0]) == n // 3
    assert sorted(i for p in parts for i in p) == sorted(tiny_task.epoch_order(5, 2, 0, 1)[: 3 * (n // 3)])
    assert tiny_task.epoch_order(5, 2, 0, 1) != tiny_task.epoch_order(5, 3, 0, 1)  # reshuffled per epoch


def _ddp_worker(rank, world, init_file, out_dir):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        cfg = dataclasses.replace(TINY_MT, updates=12, average_last=1, save_every=1)
        task = TranslationTask(cfg, corpus=synthetic_corpus())
        res = task.train([Member(task.init_params(0), None, 3, rewind_updates=4)])[0]
        torch.save({"trained": res.trained, "rewind": res.rewind, "metric": res.metric}, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_data_parallel_ranks_stay_identical(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    for k in r0["trained"]:
        assert torch.equal(r0["trained"][k], r1["trained"][k]) and torch.equal(r0["rewind"][k], r1["rewind"][k]), k
    assert r0["metric"] == r1["metric"]
    cfg = dataclasses.replace(TINY_MT, updates=12, average_last=1, save_every=1)
    task = TranslationTask(cfg, corpus=synthetic_corpus())
    single = task.train([Member(task.init_params(0), None, 3, rewind_updates=4)])[0]
    # Two ranks see two batches per update: not the single-process trajectory.
    assert any(not torch.equal(single.trained[k], r0["trained"][k]) for k in single.trained)


def test_cli_runs_resumes_and_rejects_bad_options(tmp_path, capsys):
    from lotteryfast.run import main

    data = tmp_path / "data"
    data.mkdir()
    write_dir(data, synthetic_corpus(300))
    out = tmp_path / "run"
    argv = ["mt", "--dataset", str(data), "--updates", "12", "--reset-to", "update:4", "--levels", "1"]
    argv += ["--out", str(out), "--no-plot"]
    assert main(argv) == 0
    summary = (out / "summary.csv").read_text()
    assert summary.count("\n") >= 3  # dense, wt, rt
    assert len(list(out.glob("spm-data-*.model"))) == 1
    assert main(argv) == 0  # a finished run: nothing retrained
    assert main([*argv[:-3], "--prune-scope", "embeddings", "--out", str(tmp_path / "x")]) == 2
    assert "MTConfig.prune_scope must be one of all, layers; got 'embeddings'" in capsys.readouterr().err
    assert main(["mt", "--games-per-epoch", "3", "--out", str(tmp_path / "y")]) == 2
    assert main(["mt", "--dataset", str(data), "--updates", "50", "--out", str(tmp_path / "z")]) == 2
    assert "late resetting point update:100 is past the 50 training updates" in capsys.readouterr().err
