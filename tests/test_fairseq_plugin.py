"""The fairseq plugin: masked_adam inside fairseq-train, and prune + rewind between runs.

Runs where the optional extra is installed (`pip install cython && pip install --no-build-isolation
.[fairseq]`); skipped otherwise.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_mt import synthetic_corpus, write_dir

pytest.importorskip("fairseq", reason="fairseq not installed (optional: pip install --no-build-isolation .[fairseq])")

from lotteryfast.fairseq_plugin import masks_file
from lotteryfast.fairseq_plugin.tool import main as tool_main

PLUGIN = Path(__file__).resolve().parents[1] / "lotteryfast" / "fairseq_plugin"
ENV = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
MODEL = shlex.split(
    "--arch transformer --encoder-layers 1 --decoder-layers 1 --encoder-embed-dim 32 --decoder-embed-dim 32 "
    "--encoder-ffn-embed-dim 64 --decoder-ffn-embed-dim 64 --encoder-attention-heads 2 --decoder-attention-heads 2 "
    "--share-all-embeddings --optimizer masked_adam --adam-betas (0.9,0.98) --lr 1e-3 --lr-scheduler inverse_sqrt "
    "--warmup-updates 2 --criterion label_smoothed_cross_entropy --label-smoothing 0.1 --max-tokens 500 --cpu "
    "--no-progress-bar --log-format simple --seed 1 --disable-validation"
)
RESET = shlex.split("--reset-optimizer --reset-lr-scheduler --reset-dataloader --reset-meters")


def fairseq(module: str, *args: str, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=ENV, capture_output=True, text=True)
    if ok:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def load(path: Path):
    return torch.load(path, map_location="cpu", weights_only=False)


def binarize(tmp_path: Path) -> None:
    """A synthetic parallel corpus, binarized by fairseq-preprocess into tmp_path/bin."""
    raw = tmp_path / "raw"
    raw.mkdir()
    write_dir(raw, synthetic_corpus(300))
    fairseq(
        "fairseq_cli.preprocess",
        *["--source-lang", "src", "--target-lang", "tgt", "--trainpref", "raw/train", "--validpref", "raw/valid"],
        *["--testpref", "raw/test", "--destdir", "bin", "--joined-dictionary", "--workers", "1"],
        cwd=tmp_path,
    )


def test_masked_adam_in_fairseq_train_with_prune_and_rewind(tmp_path):
    binarize(tmp_path)
    fairseq(
        "fairseq_cli.train",
        "bin",
        "--user-dir",
        str(PLUGIN),
        *MODEL,
        "--max-update",
        "6",
        "--save-dir",
        "c1",
        cwd=tmp_path,
    )
    trained, rewind = tmp_path / "c1" / "checkpoint_last.pt", tmp_path / "c1" / "checkpoint1.pt"
    assert load(rewind)["optimizer_history"][-1]["num_updates"] < load(trained)["optimizer_history"][-1]["num_updates"]
    args = ["prune", "--trained", str(trained), "--rewind", str(rewind), "--rate", "0.5", "--scope", "layers"]
    assert tool_main([*args, "--out-masks", str(tmp_path / "m.pt"), "--out-checkpoint", str(tmp_path / "r.pt")]) == 0
    masks = torch.load(tmp_path / "m.pt", weights_only=True)["masks"]
    assert "encoder.embed_tokens.weight" not in masks and "encoder.layers.0.fc1.weight" in masks
    assert not any("layer_norm" in n for n in masks)
    rewound = load(tmp_path / "r.pt")["model"]
    for n, m in masks.items():
        torch.testing.assert_close(rewound[n], load(rewind)["model"][n] * m)
    fairseq(
        "fairseq_cli.train",
        "bin",
        "--user-dir",
        str(PLUGIN),
        *MODEL,
        *RESET,
        *["--max-update", "4", "--save-dir", "c2"],
        "--restore-file",
        str(tmp_path / "r.pt"),
        "--masks",
        str(tmp_path / "m.pt"),
        cwd=tmp_path,
    )
    after = load(tmp_path / "c2" / "checkpoint_last.pt")["model"]
    for n, m in masks.items():
        assert torch.all(after[n][~m] == 0), f"{n}: pruned weights moved"
    weights = [n for n in masks if n.endswith("weight")]
    assert all(not torch.equal(after[n], rewound[n]) for n in weights), "kept weights did not train"
    # Iterating: the next level prunes 50 % of what is left, from these masks.
    level2 = [*args[:2], str(tmp_path / "c2" / "checkpoint_last.pt"), *args[3:], "--masks", str(tmp_path / "m.pt")]
    assert (
        tool_main([*level2, "--out-masks", str(tmp_path / "m2.pt"), "--out-checkpoint", str(tmp_path / "r2.pt")]) == 0
    )
    masks2 = torch.load(tmp_path / "m2.pt", weights_only=True)["masks"]
    kept1, kept2 = sum(int(m.sum()) for m in masks.values()), sum(int(m.sum()) for m in masks2.values())
    assert kept2 == kept1 - round(0.5 * kept1) and all(torch.all(masks[n] | ~masks2[n]) for n in masks)


def test_masks_file_must_match_the_model(tmp_path):
    params = [torch.zeros(3, 2), torch.zeros(4)]
    masks_file.save(tmp_path / "m.pt", ["a", "b"], [(3, 2), (4,)], {"a": torch.ones(3, 2, dtype=torch.bool)})
    got = masks_file.masks_for(params, tmp_path / "m.pt")
    assert got[0].all() and got[1] is None
    with pytest.raises(ValueError, match=r"parameter 1 \(b\) has shape \(5,\), the masks file says \(4,\)"):
        masks_file.masks_for([params[0], torch.zeros(5)], tmp_path / "m.pt")
    with pytest.raises(ValueError, match="describes 2 parameters, the optimizer has 1"):
        masks_file.masks_for(params[:1], tmp_path / "m.pt")
    shared = torch.zeros(4, 2)
    state = {"enc.w": shared, "dec.w": shared, "enc.version": torch.tensor([3.0]), "x": torch.ones(2)}
    assert masks_file.parameter_entries(state) == ["enc.w", "x"]
    assert masks_file.aliases(state, "enc.w") == ["enc.w", "dec.w"]


def _train(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return fairseq("fairseq_cli.train", "bin", "--user-dir", str(PLUGIN), *MODEL, *extra, cwd=tmp_path, ok=False)


def _one_line_failure(done: subprocess.CompletedProcess, needle: str) -> None:
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("masked_adam: error:") and needle in last, done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_levels_scopes_resume_bad_inputs_and_decoding(tmp_path, capsys):
    binarize(tmp_path)
    assert _train(tmp_path, "--max-update", "6", "--save-dir", "c1").returncode == 0
    trained, rewind = tmp_path / "c1" / "checkpoint_last.pt", tmp_path / "c1" / "checkpoint1.pt"
    out = lambda name: str(tmp_path / name)  # noqa: E731
    base = ["prune", "--trained", str(trained), "--rewind", str(rewind), "--rate", "0.5"]
    # Level 1 prunes every weight (embeddings too).
    assert tool_main([*base, "--scope", "all", "--out-masks", out("m1.pt"), "--out-checkpoint", out("r1.pt")]) == 0
    m1 = masks_file.read(tmp_path / "m1.pt")["masks"]
    assert "encoder.embed_tokens.weight" in m1
    assert "50.00 % of the model pruned" in capsys.readouterr().out
    # A pruned checkpoint without --masks is refused, in one line.
    _one_line_failure(
        _train(tmp_path, *RESET, "--max-update", "2", "--save-dir", "x", "--restore-file", out("r1.pt")),
        "no masks were given: add --masks",
    )
    # Level 1 trains with --update-freq, --clip-norm and (decoupled) weight decay.
    opts = ["--update-freq", "2", "--clip-norm", "0.1", "--weight-decay", "0.01"]
    done = _train(
        tmp_path,
        *RESET,
        *opts,
        "--max-update",
        "4",
        "--save-dir",
        "c2",
        "--restore-file",
        out("r1.pt"),
        "--masks",
        out("m1.pt"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "masked_adam: masks loaded from --masks" in done.stdout + done.stderr
    after = load(tmp_path / "c2" / "checkpoint_last.pt")["model"]
    for n, m in m1.items():
        assert torch.all(after[n][~m] == 0), n
    # Resuming the run (its checkpoint_last, optimizer state and all) without --masks keeps the masks.
    done = _train(tmp_path, *opts, "--max-update", "8", "--save-dir", "c2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "masks loaded from the checkpoint's optimizer state" in done.stdout + done.stderr
    resumed = load(tmp_path / "c2" / "checkpoint_last.pt")
    assert resumed["optimizer_history"][-1]["num_updates"] == 8
    for n, m in m1.items():
        assert torch.all(resumed["model"][n][~m] == 0), f"{n}: pruned weights regrew after the resume"
    # Level 2 in another scope: what level 1 pruned stays pruned, the summary gives the scope's share.
    lvl2 = ["prune", "--trained", str(tmp_path / "c2" / "checkpoint_last.pt"), "--rewind", str(rewind)]
    lvl2 += ["--masks", out("m1.pt"), "--rate", "0.5", "--scope", "layers"]
    assert tool_main([*lvl2, "--out-masks", out("m2.pt"), "--out-checkpoint", out("r2.pt")]) == 0
    printed = capsys.readouterr().out
    assert "of the model pruned" in printed and "weights in scope layers" in printed, printed
    m2 = masks_file.read(tmp_path / "m2.pt")["masks"]
    r2 = load(tmp_path / "r2.pt")["model"]
    for n, m in m1.items():
        assert torch.all(~m | ~m2[n] == ~m2[n] | ~m) and torch.all(m2[n] <= m), n  # nested
        assert torch.all(r2[n][~m] == 0), f"{n}: a weight pruned at level 1 came back"
    emb = "encoder.embed_tokens.weight"
    assert torch.equal(m2[emb], m1[emb])  # out of scope: unchanged
    done = _train(
        tmp_path,
        *RESET,
        "--max-update",
        "3",
        "--save-dir",
        "c3",
        "--restore-file",
        out("r2.pt"),
        "--masks",
        out("m2.pt"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    level2 = load(tmp_path / "c3" / "checkpoint_last.pt")["model"]
    for n, m in m2.items():
        assert torch.all(level2[n][~m] == 0), n
    # The pruned model decodes.
    gen = fairseq(
        "fairseq_cli.generate",
        "bin",
        "--user-dir",
        str(PLUGIN),
        "--path",
        str(tmp_path / "c3" / "checkpoint_last.pt"),
        "--beam",
        "2",
        "--max-len-b",
        "8",
        "--cpu",
        "--gen-subset",
        "test",
        "--batch-size",
        "16",
        cwd=tmp_path,
    )
    assert gen.stdout.count("\nH-") >= 10
    # Bad inputs to the prune tool: one line, exit 2, nothing written.
    other = _train(
        tmp_path, "--max-update", "1", "--save-dir", "c_other", "--encoder-embed-dim", "16", "--decoder-embed-dim", "16"
    )
    assert other.returncode == 0, other.stderr[-2000:]
    bad = [
        ([*base[:4], str(tmp_path / "c_other" / "checkpoint_last.pt"), *base[5:]], "has shape (32, 16), --trained"),
        ([*base, "--masks", str(trained)], "is not a lotteryfast masks file"),
        ([*base, "--masks", out("missing.pt")], "not found"),
        ([*base[:2], out("m1.pt"), *base[3:]], "is not a fairseq checkpoint (no 'model' entry) (a masks file?)"),
    ]
    for args, needle in bad:
        assert tool_main([*args, "--out-masks", out("bad_m.pt"), "--out-checkpoint", out("bad_r.pt")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and needle in err, err
        assert not (tmp_path / "bad_m.pt").exists() and not (tmp_path / "bad_r.pt").exists()
    assert tool_main([*base, "--out-masks", out("bad_m.pt"), "--out-checkpoint", "/proc/none/r.pt"]) == 2
    assert "--out-checkpoint /proc/none/r.pt: directory /proc/none does not exist" in capsys.readouterr().err
    assert not (tmp_path / "bad_m.pt").exists()
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    for written in ("m2.pt", "r2.pt"):  # the umask decides, as for fairseq's own checkpoints
        assert (tmp_path / written).stat().st_mode == plain.stat().st_mode
    # Bad masks in fairseq-train: one line each.
    _one_line_failure(
        _train(tmp_path, "--max-update", "1", "--save-dir", "y", "--masks", out("missing.pt")), "not found"
    )
    _one_line_failure(
        _train(tmp_path, "--max-update", "1", "--save-dir", "y", "--masks", str(trained)),
        "is not a lotteryfast masks file",
    )
    _one_line_failure(
        _train(
            tmp_path,
            "--max-update",
            "1",
            "--save-dir",
            "y",
            "--masks",
            out("m1.pt"),
            "--encoder-embed-dim",
            "16",
            "--decoder-embed-dim",
            "16",
        ),
        "has shape",
    )


def test_masked_adam_computes_fairseqs_adam_on_kept_weights():
    from fairseq.optim.adam import Adam as FairseqAdam

    from lotteryfast.fairseq_plugin.optimizer import FairseqAdamOnMasks

    torch.manual_seed(0)
    shapes = [(7, 5), (5,), (3, 7)]
    for masks_kind in ("none", "all-true"):
        for wd, eps in ((0.0, 1e-8), (0.1, 1e-8), (0.05, 1e-3)):
            ours = [torch.randn(s, requires_grad=True) for s in shapes]
            theirs = [p.detach().clone().requires_grad_() for p in ours]
            masks = None if masks_kind == "none" else [torch.ones(s, dtype=torch.bool) for s in shapes]
            a = FairseqAdamOnMasks(ours, masks, lr=0.01, betas=(0.9, 0.98), eps=eps, weight_decay=wd)
            b = FairseqAdam(theirs, lr=0.01, betas=(0.9, 0.98), eps=eps, weight_decay=wd)
            for step in range(20):
                g = torch.Generator().manual_seed(step)
                grads = [torch.randn(s, generator=g) * 1e-2 for s in shapes]
                for p, q, gr in zip(ours, theirs, grads, strict=True):
                    p.grad, q.grad = gr.clone(), gr.clone()
                a.step()
                b.step()
            for p, q in zip(ours, theirs, strict=True):
                torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_flat_master_params_get_masks_by_offsets(tmp_path):
    """fairseq's --fp16 steps one flat fp32 copy of all parameters (their concatenation in
    parameter order): the masks file maps onto it, and the step equals the per-parameter one."""
    from lotteryfast.fairseq_plugin.optimizer import FairseqAdamOnMasks

    torch.manual_seed(1)
    shapes = [(4, 3), (4,), (2, 4)]
    names = ["a.weight", "a.bias", "b.weight"]
    masks = {"a.weight": torch.rand(4, 3) > 0.5, "b.weight": torch.rand(2, 4) > 0.3}
    masks_file.save(tmp_path / "m.pt", names, shapes, masks)
    params = [torch.randn(s) * masks.get(n, 1) for n, s in zip(names, shapes, strict=True)]
    flat = torch.cat([p.reshape(-1) for p in params]).requires_grad_()
    per = [p.clone().requires_grad_() for p in params]
    (flat_mask,) = masks_file.masks_for([flat], tmp_path / "m.pt")
    assert flat_mask.numel() == flat.numel() and int(flat_mask.sum()) == sum(
        int(masks[n].sum()) if n in masks else p.numel() for n, p in zip(names, params, strict=True)
    )
    a = FairseqAdamOnMasks([flat], [flat_mask], lr=0.01, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.01)
    b = FairseqAdamOnMasks(
        per, masks_file.masks_for(per, tmp_path / "m.pt"), lr=0.01, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.01
    )
    for step in range(5):
        grads = [torch.randn(s, generator=torch.Generator().manual_seed(step + i)) for i, s in enumerate(shapes)]
        flat.grad = torch.cat([g.reshape(-1) for g in grads])
        for p, g in zip(per, grads, strict=True):
            p.grad = g.clone()
        a.step()
        b.step()
    torch.testing.assert_close(flat.detach(), torch.cat([p.detach().reshape(-1) for p in per]))
    assert torch.all(flat.detach()[~flat_mask] == 0)
