"""Joint source+target BPE vocabulary with sentencepiece, trained once per (corpus, size) and cached.

Ids: 0 = <pad>, 1 = <unk>, 2 = <s> (decoder start), 3 = </s>.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import torch

from lotteryfast.data.parallel import ParallelCorpus
from lotteryfast.runs import atomic_write_bytes

PAD, UNK, BOS, EOS = 0, 1, 2, 3


class SubwordVocab:
    """A trained sentencepiece model: text <-> ids."""

    def __init__(self, model_proto: bytes):
        import sentencepiece as spm

        self.model_proto = model_proto
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)

    def __len__(self) -> int:
        return self.sp.vocab_size()

    def encode(self, lines: list[str]) -> list[list[int]]:
        """Subword ids of each line (no <s>/</s>)."""
        return self.sp.encode(lines)

    def decode(self, ids: list[list[int]]) -> list[str]:
        """Text of each id sequence (<pad>, <s>, </s> dropped)."""
        return self.sp.decode([[i for i in seq if i > BOS and i != EOS] for seq in ids])

    def tensors(self, lines: list[str], max_len: int = 0) -> list[torch.Tensor]:
        """Each line as an int64 tensor of ids ending in </s>, cut to max_len tokens if max_len > 0."""
        out = []
        for ids in self.encode(lines):
            if max_len and len(ids) >= max_len:
                ids = ids[: max_len - 1]
            out.append(torch.tensor([*ids, EOS], dtype=torch.int64))
        return out


def train(lines: list[str], vocab_size: int) -> SubwordVocab:
    """Trains a BPE model on `lines` (deterministic: every line is used, in order)."""
    import sentencepiece as spm

    if vocab_size < 8:
        raise ValueError(f"vocab_size must be >= 8, got {vocab_size}")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="bpe",
        character_coverage=1.0,
        pad_id=PAD,
        unk_id=UNK,
        bos_id=BOS,
        eos_id=EOS,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        num_threads=1,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return SubwordVocab(model.getvalue())


def joint_vocab(corpus: ParallelCorpus, vocab_size: int, cache_dir: Path | None = None) -> SubwordVocab:
    """The joint BPE vocabulary of a corpus' training split, from `cache_dir` if trained before.

    The cache file name carries a digest of the training text and the size, so a changed corpus
    never reuses a stale model.
    """
    src, tgt = corpus.pairs("train")
    lines = [*src, *tgt]
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    path = cache_dir / f"spm-{corpus.name}-{vocab_size}-{digest}.model" if cache_dir else None
    if path is not None and path.is_file():
        return SubwordVocab(path.read_bytes())
    vocab = train(lines, vocab_size)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, vocab.model_proto)
    return vocab
