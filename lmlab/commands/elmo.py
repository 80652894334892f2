"""`lmlab elmo INPUT OUTPUT.hdf5`: ELMo vectors for a file of sentences; `lmlab export_elmo ARCHIVE`:
a trained character-input bidirectional LM written as bilm-tf options + weight files."""
import argparse
import sys
from typing import Iterator, List, Tuple

from overrides import overrides

from lmlab.commands.subcommand import Subcommand

MAX_LISTED_PROBLEMS = 100
"""Bad input lines reported one by one; beyond this, one summary line."""

_EMBED_DESCRIPTION = """\
Embed a file of sentences with an ELMo biLM and write an hdf5 file.

INPUT has one sentence per line, tokens separated by whitespace ("-" reads standard input). OUTPUT gets
one float32 dataset per sentence, named by its 0-based line index ("0", "1", ...): with --all the
(L, n, D) activations of every biLM layer (L = 3 for ELMo: token layer, then each LSTM layer), with --top
the (n, D) top layer, with --average the (n, D) mean of the layers; n is the sentence's number of tokens
("<S>"/"</S>" are added by the model and not stored). A dataset "sentence_to_index" holds one JSON string
mapping each sentence (the stripped line) to its index as a string (a repeated sentence maps to its last
line), as AllenNLP's `elmo` command wrote.

Empty lines, lines that are not UTF-8 and sentences with more than --max-tokens tokens are input errors:
every bad line is reported as FILE:LINE and nothing is written. OUTPUT is written to a temporary file
and moved into place at the end, so it is never left half-written.

State: by default the biLM is stateless, so a sentence's vectors do not depend (beyond float rounding)
on the other sentences, their order or the batch size (sentences are batched by length for speed).
--stateful reproduces
AllenNLP's `allennlp elmo`: the pretrained biLM keeps each row's LSTM state from one batch to the next
and the file is read in order, in batches of --batch-size, so a sentence's vectors depend on the
sentence that was in the same row of the previous batch.

The biLM is either a pretrained one (--options-file and --weight-file: bilm-tf files, local paths or
URLs), or a bidirectional character-input language model trained with lmlab (--archive model.tar.gz).
"""

_EXPORT_DESCRIPTION = """\
Write a trained lmlab ELMo-style language model as bilm-tf options.json + hdf5 weight files.

ARCHIVE must hold a bidirectional "language_model" whose only token embedder is an
"elmo_character_encoder" and whose contextualizer is "elmo_lstm" (e.g. configs/lm/wikitext2_elmo.jsonnet),
with one size for the token vectors and the LSTM projections. The files load with ElmoBiLm, the
"elmo_token_embedder" or `lmlab elmo`, and give the model's activations. Both files are written atomically.
"""


@Subcommand.register("elmo")
class ElmoCommand(Subcommand):
    """Embed a file of whitespace-tokenized sentences with ELMo into an hdf5 file."""

    @overrides
    def add_subparser(self, subparsers: "argparse._SubParsersAction",
                      parents: "list[argparse.ArgumentParser]") -> argparse.ArgumentParser:
        parser = subparsers.add_parser("elmo", parents=parents, help=(self.__doc__ or "").partition("\n")[0],
                                       description=_EMBED_DESCRIPTION,
                                       formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("input_file", metavar="INPUT", help='sentences, one per line ("-": standard input)')
        parser.add_argument("output_file", metavar="OUTPUT", help="the hdf5 file to write")
        parser.add_argument("--options-file", help="bilm-tf options.json (path or URL)")
        parser.add_argument("--weight-file", help="bilm-tf hdf5 weights (path or URL)")
        parser.add_argument("--archive", help="instead of the two files: an lmlab model.tar.gz of a bidirectional "
                                              "character-input language model")
        layers = parser.add_mutually_exclusive_group(required=True)
        layers.add_argument("--all", action="store_true", help="store all layers: (L, n, D) per sentence")
        layers.add_argument("--top", action="store_true", help="store the top layer: (n, D) per sentence")
        layers.add_argument("--average", action="store_true", help="store the mean of the layers: (n, D)")
        parser.add_argument("--batch-size", type=int, default=64, help="sentences per biLM call (default 64)")
        parser.add_argument("--max-tokens", type=int, default=500,
                            help="longest sentence accepted, in tokens (default 500)")
        parser.add_argument("--stateful", action="store_true",
                            help="carry LSTM states between batches in file order, as AllenNLP did (see above)")
        parser.add_argument("--cuda-device", type=int, default=-1, help="-1 for CPU (default), k for GPU k")
        return parser

    @overrides
    def run(self, args: argparse.Namespace) -> int:
        import json

        import numpy as np
        import torch
        from tqdm import tqdm

        from lmlab.common.util import resolve_device
        from lmlab.modules.elmo import batch_to_ids
        from lmlab.modules.elmo.export import atomic_hdf5_file

        _check_arguments(args)
        lines, sentences = read_sentences(args.input_file, args.max_tokens)
        device = resolve_device(args.cuda_device)
        bilm = _load_bilm(args).to(device).eval()

        order = list(range(len(sentences)))
        if not args.stateful:  # results do not depend on batching, so batch similar lengths together
            order.sort(key=lambda index: len(sentences[index]), reverse=True)
        batches = [order[start:start + args.batch_size] for start in range(0, len(order), args.batch_size)]
        with atomic_hdf5_file(args.output_file) as h5file, torch.inference_mode(), \
                tqdm(total=len(sentences), unit="sentence", desc="elmo", disable=None, file=sys.stderr) as bar:
            for batch in batches:
                tokens = [sentences[index] for index in batch]
                output = bilm(batch_to_ids(tokens).to(device))
                layers = torch.stack(output["activations"]).float().cpu().numpy()  # (L, B, T + 2, D): one copy
                for row, index in enumerate(batch):
                    vectors = layers[:, row, 1:len(tokens[row]) + 1]  # (L, n, D), boundaries dropped
                    if args.top:
                        vectors = vectors[-1]  # (n, D)
                    elif args.average:
                        vectors = vectors.mean(axis=0)  # (n, D)
                    h5file.create_dataset(str(index), data=np.ascontiguousarray(vectors, dtype=np.float32))
                bar.update(len(batch))
            sentence_to_index = {line: str(index) for index, line in enumerate(lines)}
            _write_sentence_index(h5file, json.dumps(sentence_to_index, ensure_ascii=False))
        print(f"wrote {len(sentences)} sentences to {args.output_file}", file=sys.stderr)
        return 0


@Subcommand.register("export_elmo")
class ExportElmoCommand(Subcommand):
    """Write a trained ELMo-style language model (model.tar.gz) as bilm-tf options + hdf5 weight files."""

    @overrides
    def add_subparser(self, subparsers: "argparse._SubParsersAction",
                      parents: "list[argparse.ArgumentParser]") -> argparse.ArgumentParser:
        parser = subparsers.add_parser("export_elmo", parents=parents, help=(self.__doc__ or "").partition("\n")[0],
                                       description=_EXPORT_DESCRIPTION,
                                       formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("archive", metavar="ARCHIVE", help="model.tar.gz (path or URL)")
        parser.add_argument("--options-file", required=True, help="the options JSON to write")
        parser.add_argument("--weight-file", required=True, help="the hdf5 weight file to write")
        return parser

    @overrides
    def run(self, args: argparse.Namespace) -> int:
        from lmlab.commands.list import import_builtin_components
        from lmlab.models.archival import load_archive
        from lmlab.models.elmo_lm import export_language_model

        import_builtin_components()
        model = load_archive(args.archive).model
        export_language_model(model, args.options_file, args.weight_file)
        print(f"wrote {args.options_file} and {args.weight_file}", file=sys.stderr)
        return 0


def _check_arguments(args: argparse.Namespace) -> None:
    from lmlab.common.errors import ConfigurationError

    if args.batch_size < 1:
        raise ConfigurationError(f"--batch-size must be positive, found {args.batch_size}")
    if args.max_tokens < 1:
        raise ConfigurationError(f"--max-tokens must be positive, found {args.max_tokens}")
    files = args.options_file is not None or args.weight_file is not None
    if args.archive is not None and files:
        raise ConfigurationError("give either --archive or --options-file/--weight-file, not both")
    if args.archive is None and (args.options_file is None or args.weight_file is None):
        raise ConfigurationError("need --options-file and --weight-file (or --archive)")
    if args.archive is not None and args.stateful:
        raise ConfigurationError("--stateful applies to pretrained bilm-tf files only, not to --archive")


def _load_bilm(args: argparse.Namespace):
    if args.archive is not None:
        from lmlab.commands.list import import_builtin_components
        from lmlab.models.archival import load_archive
        from lmlab.models.elmo_lm import LanguageModelBiLm

        import_builtin_components()
        return LanguageModelBiLm(load_archive(args.archive).model)
    from lmlab.common.file_utils import cached_path
    from lmlab.modules.elmo import ElmoBiLm

    return ElmoBiLm(cached_path(args.options_file), cached_path(args.weight_file), stateful=args.stateful)


def _write_sentence_index(h5file, text: str) -> None:
    import h5py

    dataset = h5file.create_dataset("sentence_to_index", (1,), dtype=h5py.string_dtype(encoding="utf-8"))
    dataset[0] = text


def read_sentences(path: str, max_tokens: int) -> Tuple[List[str], List[List[str]]]:
    """The stripped lines of `path` ("-": stdin) and their whitespace tokens; every bad line is reported
    together, in one `InputError` with one problem per line."""
    from lmlab.common.errors import InputError

    name = "<stdin>" if path == "-" else path
    lines: List[str] = []
    sentences: List[List[str]] = []
    problems: List[InputError] = []
    try:
        for number, line in _numbered_lines(path):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as err:
                problems.append(InputError(f"not UTF-8 (byte {err.start})", f"{name}:{number}"))
                continue
            tokens = text.split()
            if not tokens:
                problems.append(InputError("empty sentence", f"{name}:{number}"))
            elif len(tokens) > max_tokens:
                problems.append(InputError(f"sentence has {len(tokens)} tokens, more than --max-tokens {max_tokens}",
                                           f"{name}:{number}"))
            lines.append(text.strip())
            sentences.append(tokens)
    except OSError as err:
        raise InputError(f"cannot read sentences: {err.strerror}", name) from None
    if problems:
        listed = problems[:MAX_LISTED_PROBLEMS]
        if len(problems) > len(listed):
            listed.append(InputError(f"... and {len(problems) - len(listed)} more bad lines", name))
        raise InputError.combine(listed)
    if not sentences:
        raise InputError("no sentences", name)
    return lines, sentences


def _numbered_lines(path: str) -> Iterator[Tuple[int, bytes]]:
    """(1-based line number, line without its end of line) of a file or stdin, read as bytes."""
    stream = sys.stdin.buffer if path == "-" else open(path, "rb")
    try:
        for number, raw in enumerate(stream, start=1):
            yield number, raw.rstrip(b"\r\n")
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
