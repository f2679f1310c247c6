"""fairseq plugin: the paper's exact recipe (fairseq transformer-base) with lotteryfast's kernels.

    fairseq-train DATA --user-dir $(python -c "import lotteryfast.fairseq_plugin as p; print(p.__path__[0])") \\
        --arch transformer_wmt_en_de --share-all-embeddings --optimizer masked_adam \\
        --adam-betas '(0.9, 0.98)' --masks masks.pt ...
    python -m lotteryfast.fairseq_plugin prune --trained checkpoint_last.pt --rewind checkpoint_1_1000.pt \\
        --rate 0.2 --out-masks masks.pt --out-checkpoint rewound.pt

``masked_adam`` is ``MaskedAdam`` (torch.optim.Adam semantics) behind fairseq's optimizer interface;
``prune`` (see ``lotteryfast.fairseq_plugin.tool``) turns a trained and a rewind checkpoint into
the next level's masks and the rewound, masked checkpoint to start the next run from
(``--restore-file rewound.pt --reset-optimizer --reset-lr-scheduler --reset-dataloader --reset-meters``).
Needs the optional extra: ``pip install --no-build-isolation .[fairseq]`` (fairseq-fixed 0.12.3.1).
"""

from __future__ import annotations

try:
    import fairseq  # noqa: F401
except ImportError:  # the prune tool works on checkpoints without fairseq's optimizer registry
    pass
else:
    from lotteryfast.fairseq_plugin import optimizer  # noqa: F401  (registers masked_adam)
