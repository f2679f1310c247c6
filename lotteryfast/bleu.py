"""BLEU as the paper reports it, computed with sacrebleu on local references (no downloads).

- ``sacrebleu``: sacreBLEU on detokenized text (13a tokenization, case-sensitive).
- ``tokenized``: BLEU on tokenized text, the paper's ``multi-bleu.perl`` convention on tokenized
  output with compounds split (fairseq's ``compound_split_bleu.sh``): both sides are tokenized
  with sacrebleu's international tokenizer, which already makes the hyphen inside a compound a
  token of its own (what ``##AT##-##AT##`` splitting achieves), then BLEU is computed without
  further tokenization. Without Moses' exact rules the value can differ slightly from
  ``multi-bleu.perl``'s; it is labelled as such in results.
"""

from __future__ import annotations

from sacrebleu.metrics import BLEU
from sacrebleu.tokenizers.tokenizer_intl import TokenizerV14International

_intl = TokenizerV14International()


def tokenize(line: str) -> str:
    """International tokenization: punctuation, symbols and compound hyphens become tokens."""
    return _intl(line)


def sacre_bleu(hypotheses: list[str], references: list[str]) -> float:
    """Corpus sacreBLEU (13a, case-sensitive) of detokenized hypotheses against one reference each."""
    _check(hypotheses, references)
    return float(BLEU().corpus_score(hypotheses, [references]).score)


def tokenized_bleu(hypotheses: list[str], references: list[str]) -> float:
    """Corpus BLEU on tokenized, compound-split text (the paper's multi-bleu.perl convention)."""
    _check(hypotheses, references)
    bleu = BLEU(tokenize="none", force=True)
    return float(bleu.corpus_score([tokenize(h) for h in hypotheses], [[tokenize(r) for r in references]]).score)


def _check(hypotheses: list[str], references: list[str]) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
