"""Tiny random Hugging Face models with tokenizers trained on a text file, saved with `save_pretrained`.

For tests of lmlab's pretrained-transformer components without downloads (`lmlab[transformers]` must be
installed). Every model is 2 layers of hidden size 32 with random weights, seeded, so two calls with the
same arguments write the same model.
"""
from pathlib import Path
from typing import Any, Dict, List, Union, cast

FAMILIES = ("bert", "roberta", "gpt2")
"""The families `make_tiny_transformer` builds: two masked LMs (WordPiece, byte-level BPE) and a causal LM."""


def make_tiny_transformer(family: str, corpus: Union[str, Path], directory: Union[str, Path],
                          vocab_size: int = 0, seed: int = 0) -> Path:
    """Train a tokenizer of `family` on `corpus` (a text file) with `vocab_size` entries (0: 200 WordPieces for
    "bert", 400 byte-level BPE tokens otherwise), build a random tiny model of that family with
    its vocabulary, and `save_pretrained` both into `directory`; returns `directory`.

    The model is saved as its masked-LM ("bert", "roberta") or causal-LM ("gpt2") class, so `AutoModel`,
    `AutoModelForMaskedLM` / `AutoModelForCausalLM` and `AutoTokenizer` all load the folder.
    """
    import torch
    import transformers
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    directory = Path(directory)
    vocab_size = vocab_size or (200 if family == "bert" else 400)  # byte-level BPE starts from 256 bytes
    lines: List[str] = [line.strip() for line in Path(corpus).read_text().splitlines() if line.strip()]
    if family == "bert":
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        tok.train_from_iterator(lines, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
        fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                                    cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    else:
        specials = ["<|endoftext|>"] if family == "gpt2" else ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        if family == "gpt2":
            tok.post_processor = processors.ByteLevel(trim_offsets=False)
            fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>",
                                                        eos_token="<|endoftext|>", unk_token="<|endoftext|>")
        else:
            tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])  # as RoBERTa's: eats a space
            tok.post_processor = processors.RobertaProcessing(("</s>", cast(int, tok.token_to_id("</s>"))),
                                                              ("<s>", cast(int, tok.token_to_id("<s>"))))
            fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                                        cls_token="<s>", sep_token="</s>", unk_token="<unk>",
                                                        pad_token="<pad>", mask_token="<mask>")
    size = tok.get_vocab_size()
    model: Any
    config: Any
    common: Dict[str, Any] = dict(vocab_size=size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(seed)
    if family == "bert":
        model = transformers.BertForMaskedLM(transformers.BertConfig(**common, pad_token_id=0))
    elif family == "roberta":
        config = transformers.RobertaConfig(**{**common, "max_position_embeddings": 66}, pad_token_id=1,
                                            bos_token_id=0, eos_token_id=2)
        model = transformers.RobertaForMaskedLM(config)
    else:
        eos = tok.token_to_id("<|endoftext|>")
        config = transformers.GPT2Config(vocab_size=size, n_embd=32, n_layer=2, n_head=2, n_positions=64,
                                         bos_token_id=eos, eos_token_id=eos)
        model = transformers.GPT2LMHeadModel(config)
    model.eval()
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory


def tiny_transformer(family: str) -> Path:
    """The folder of a `make_tiny_transformer` model of `family` with its tokenizer trained on lmlab's
    `fixtures/data/tiny_lm/train.txt`, built once per process in a temporary folder removed at exit."""
    path = _TINY.get(family)
    if path is None:
        import atexit
        import shutil
        import tempfile

        scratch = Path(tempfile.mkdtemp(prefix=f"lmlab-tiny-{family}-"))
        atexit.register(shutil.rmtree, scratch, True)
        path = make_tiny_transformer(family, FIXTURE_CORPUS, scratch / family)
        _TINY[family] = path
    return path


FIXTURE_CORPUS = Path(__file__).resolve().parents[3] / "fixtures" / "data" / "tiny_lm" / "train.txt"
_TINY: Dict[str, Path] = {}
