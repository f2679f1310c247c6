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


def fairseq(module: str, *args: str, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


def load(path: Path):
    return torch.load(path, map_location="cpu", weights_only=False)


def test_masked_adam_in_fairseq_train_with_prune_and_rewind(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    write_dir(raw, synthetic_corpus(300))
    fairseq(
        "fairseq_cli.preprocess",
        *["--source-lang", "src", "--target-lang", "tgt", "--trainpref", "raw/train", "--validpref", "raw/valid"],
        *["--destdir", "bin", "--joined-dictionary", "--workers", "1"],
        cwd=tmp_path,
    )
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
