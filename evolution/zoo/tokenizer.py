"""Character-level tokenizer for the zoo, built with `tokenizers` (no download).

Every symbol the skills use is one token, so answers are scored character by character and
the scorer needs no special handling of token boundaries.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
SYMBOLS = string.digits + string.ascii_lowercase + string.ascii_uppercase + "+=:>|.-"
VOCAB: dict[str, int] = {tok: i for i, tok in enumerate(SPECIALS + tuple(SYMBOLS))}


def encode(text: str) -> list[int]:
    """Fast ids for training data (no BOS/EOS); equals the tokenizer's ids for the same text."""
    return [VOCAB[c] for c in text]


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A WordLevel tokenizer with a one-character split, BOS prepended, wrapped for HF."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(vocab=dict(VOCAB), unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, VOCAB[BOS])]
    )
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
