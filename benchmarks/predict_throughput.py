"""Language-model prediction: generation tokens/s (incremental, re-run, hand loop) and scoring sentences/s and memory.

    python benchmarks/predict_throughput.py [--batch-sizes 1 16] [--prompt-tokens 20] [--new-tokens 100]
                                            [--rounds 3] [--score-batch 32] [--score-tokens 128] [--device cpu]
                                            [--threads N] [--skip generation|scoring]

Model: the WikiText-2 LSTM's shape (configs/lm/wikitext2_lstm.jsonnet): embedding 200, a 2-layer LSTM of
200, the full softmax over V = 33,278 (WikiText-2's vocabulary with padding and OOV), randomly
initialised (speed does not depend on the weights). The reader has no end token, so every continuation
makes exactly --new-tokens tokens.

Generation: B prompts of --prompt-tokens random words, each continued by --new-tokens tokens, sampled at
temperature 1 (unseeded: the global generator, as the hand loop). Four ways:
  - lmlab: `LanguageModelPredictor.predict_requests` (tokens as strings), one `LanguageModel.step` per token
    for the whole batch (the LSTM carries its state);
  - before: lmlab's generation before incremental decoding (commit c3eee80, `_generate`), written out here:
    for each token, every row's whole prefix (as strings) is indexed again, the batch is contextualised from
    scratch, the last positions are projected to the vocabulary and each row draws with its own
    `torch.multinomial`;
  - re-run: today's predictor with `incremental=False`, which re-runs every row's whole prefix for each
    token from cached embeddings (`rerun_step`: the path of contextualizers that cannot step);
  - hand loop: PyTorch's word_language_model/generate.py written out for a batch, on the same weights:
    embedding -> nn.LSTM with the hidden state carried -> linear decoder -> exp -> torch.multinomial, and the
    ids turned into words.
Targets: lmlab >= 0.9x the hand loop and >= 10x "before". The multiply-adds per token bound the second
ratio (printed as "bound"): both pay the (H x V) output projection for every token, and "before" adds the
LSTM over the whole prefix (on average prompt + new/2 positions), so before/lmlab <= (prefix * LSTM +
projection) / (LSTM + projection), about 7x for this shape; only per-token overheads of "before" can move
the measured ratio past it.

Scoring: --score-batch sentences of --score-tokens tokens scored (sum of log-probabilities): lmlab's
predictor (targets gathered in chunks, `SoftmaxLoss.target_log_probs`) against the whole (B, T, V)
log-probability block gathered at the targets (lmlab's scoring before). Peak memory of one scoring call
is measured in a fresh process: on CUDA `torch.cuda.max_memory_allocated`, on the CPU (Linux) the peak
resident set during the call (VmHWM, reset first through /proc/self/clear_refs) above the resident set
before it.

Timings are medians of --rounds alternating runs after a discarded warm-up; CUDA is synchronised before
every clock read. Nothing is asserted about time (see STYLE.md, benchmarks); the outputs of the ways are
checked to agree before they are compared.
"""
import argparse
import functools
import json
import math
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, cast

import numpy
import torch
from torch.nn import functional as F

from lmlab.data import SimpleLanguageModelingDatasetReader, Vocabulary
from lmlab.models import LanguageModel, Model
from lmlab.modules.seq2seq_encoders import LstmSeq2SeqEncoder
from lmlab.modules.softmax_losses import FullSoftmaxLoss
from lmlab.predictors import LanguageModelPredictor
from lmlab.predictors.language_model import LanguageModelRequest

VOCAB_SIZE = 33_278  # WikiText-2's 33,276 words plus padding and OOV


def build(device: torch.device, incremental: bool = True) -> LanguageModelPredictor:
    vocab = Vocabulary(counter={"tokens": {f"w{i}": 1 for i in range(VOCAB_SIZE - 2)}})
    torch.manual_seed(0)
    model = cast(LanguageModel, Model.from_params({
        "type": "language_model",
        "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 200}}},
        "contextualizer": {"type": "lstm", "input_size": 200, "hidden_size": 200, "num_layers": 2},
    }, vocab=vocab).to(device))
    return LanguageModelPredictor(model, SimpleLanguageModelingDatasetReader(), incremental=incremental)


def prompts(count: int, length: int, seed: int = 1) -> List[str]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB_SIZE - 2, (count, length), generator=generator)
    return [" ".join(f"w{i}" for i in row) for row in ids.tolist()]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# --- generation -----------------------------------------------------------------------------------------
def lmlab_generate(predictor: LanguageModelPredictor, requests: List[LanguageModelRequest]) -> List[List[str]]:
    return [output["generated"]["tokens"] for output in predictor.predict_requests(requests)]


def before_generate(predictor: LanguageModelPredictor, requests: List[LanguageModelRequest]) -> List[List[str]]:
    """lmlab's generation at commit c3eee80 (`_generate`, `_log_probs(last_only=True)`, `_choose`), unchanged
    but for names: every token re-indexes and re-contextualises every row's whole prefix, and each row draws
    alone."""
    model, vocab, namespace = predictor.model, predictor.model.vocab, predictor.model.target_namespace
    banned = torch.tensor(sorted({0, vocab.get_token_index(vocab.oov_token, namespace)}))  # no start tokens here
    options = [cast(Dict[str, Any], request.generate) for request in requests]
    sequences = [list(request.prefix) for request in requests]
    generated: List[List[str]] = [[] for _ in requests]
    generators = [None if option["seed"] is None else torch.Generator().manual_seed(option["seed"])
                  for option in options]
    stop = set(predictor.framing.end_tokens)
    active = list(range(len(requests)))
    with torch.inference_mode():
        for _ in range(max(option["max_tokens"] for option in options)):
            active = [i for i in active if len(generated[i]) < options[i]["max_tokens"]]
            if not active:
                break
            rows = [sequences[i] for i in active]
            model.reset_states()
            _, contextual, _ = model.contextualize(predictor.text_field(rows))
            top = contextual[-1] if contextual.dim() == 4 else contextual  # (A, T, H)
            embeddings = model.forward_direction_embeddings(top)
            lengths = torch.tensor([len(tokens) for tokens in rows], device=top.device)  # (A,)
            last = embeddings[torch.arange(len(rows), device=top.device), lengths - 1]  # (A, H)
            log_probs = model.log_probs(last).float().cpu()  # (A, V)
            log_probs[:, banned] = -math.inf
            still_active = []
            for row, i in enumerate(active):
                token = vocab.get_token_from_index(before_choose(log_probs[row], options[i], generators[i]),
                                                   namespace)
                sequences[i].append(token)
                if token in stop:
                    continue
                generated[i].append(token)
                still_active.append(i)
            active = still_active
    return generated


def before_choose(log_probs: torch.Tensor, options: Dict[str, Any], generator: Optional[torch.Generator]) -> int:
    """c3eee80's `_choose`: the next id of one row's (V,) log-probabilities."""
    if options["greedy"]:
        return int(log_probs.argmax())
    logits = log_probs / options["temperature"]
    if options["top_k"]:
        kth = logits.topk(min(options["top_k"], logits.numel())).values[-1]
        logits = logits.masked_fill(logits < kth, -math.inf)
    if options["top_p"] is not None and options["top_p"] < 1:
        sorted_logits, order = logits.sort(descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        remove = cumulative - sorted_logits.softmax(-1) >= options["top_p"]
        logits = logits.masked_fill(torch.zeros_like(remove).scatter(0, order, remove), -math.inf)
    return int(torch.multinomial(logits.softmax(-1), 1, generator=generator))


def multiply_adds(args: argparse.Namespace) -> Tuple[float, float]:
    """Multiply-adds per generated token of (lmlab, before) for this model shape, averaged over the tokens."""
    lstm = 2 * 4 * 200 * (200 + 200)  # two layers, four gates of 200 over [input 200; hidden 200]
    projection = 200 * VOCAB_SIZE
    prefix = args.prompt_tokens + (args.new_tokens - 1) / 2  # positions "before" runs for the average token
    return lstm + projection, prefix * lstm + projection


def hand_loop(predictor: LanguageModelPredictor, sentences: List[str], new_tokens: int) -> List[List[str]]:
    """word_language_model/generate.py for a batch: the LSTM's (h, c) carried from one token to the next."""
    model, vocab = predictor.model, predictor.model.vocab
    embedding = cast(torch.Tensor, model.text_field_embedder.token_embedder("tokens").weight)  # (V, 200)
    lstm = cast(torch.nn.LSTM, cast(LstmSeq2SeqEncoder, model.contextualizer).rnn)  # batch_first
    decoder = cast(FullSoftmaxLoss, model.softmax_loss)
    words = [vocab.get_token_from_index(i) for i in range(VOCAB_SIZE)]
    device = embedding.device
    ids = torch.as_tensor(numpy.stack([vocab.get_token_indices(sentence.split()) for sentence in sentences]),
                          device=device)  # (B, T)
    generated: List[List[str]] = [[] for _ in sentences]
    with torch.no_grad():
        output, hidden = lstm(F.embedding(ids, embedding))  # the prompt: (B, T, 200)
        for _ in range(new_tokens):
            word_weights = F.linear(output[:, -1], decoder.weight, decoder.bias).div(1.0).exp()  # (B, V)
            chosen = torch.multinomial(word_weights, 1)  # (B, 1)
            for tokens, index in zip(generated, chosen.view(-1).tolist(), strict=True):
                tokens.append(words[index])
            output, hidden = lstm(F.embedding(chosen, embedding), hidden)  # (B, 1, 200)
    return generated


def medians(runs: Dict[str, Callable[[], Any]], device: torch.device, rounds: int) -> Dict[str, float]:
    """Median seconds of each run over `rounds` alternating rounds, after one discarded warm-up each."""
    for run in runs.values():
        run()
    timings: Dict[str, List[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            synchronize(device)
            start = time.perf_counter()
            run()
            synchronize(device)
            timings[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in timings.items()}


def generation(args: argparse.Namespace, device: torch.device) -> None:
    predictor, rerun = build(device), build(device, incremental=False)
    mine, theirs = multiply_adds(args)
    print(f"\ngeneration: prompt {args.prompt_tokens} tokens, {args.new_tokens} new tokens, sampled (T = 1); "
          f"multiply-adds per token: lmlab {mine / 1e6:.1f}M, before {theirs / 1e6:.1f}M (bound {theirs / mine:.1f}x)")
    print(f"{'batch':>6} {'lmlab tok/s':>12} {'before tok/s':>13} {'re-run tok/s':>13} {'hand loop tok/s':>16} "
          f"{'vs before':>10} {'vs re-run':>10} {'vs hand':>8}")
    for batch_size in args.batch_sizes:
        sentences = prompts(batch_size, args.prompt_tokens)
        greedy = [predictor.validate({"sentence": s, "score": False, "next_token": False,
                                      "generate": {"max_tokens": 8, "greedy": True}}) for s in sentences]
        answers = lmlab_generate(predictor, greedy)  # the same answers every way, or no ratio
        assert answers == lmlab_generate(rerun, greedy) == before_generate(predictor, greedy)
        requests = [predictor.validate({"sentence": s, "score": False, "next_token": False,
                                        "generate": {"max_tokens": args.new_tokens}}) for s in sentences]
        assert all(len(tokens) == args.new_tokens for tokens in lmlab_generate(predictor, requests))
        seconds = medians({"lmlab": functools.partial(lmlab_generate, predictor, requests),
                           "before": functools.partial(before_generate, predictor, requests),
                           "rerun": functools.partial(lmlab_generate, rerun, requests),
                           "hand": functools.partial(hand_loop, predictor, sentences, args.new_tokens)},
                          device, args.rounds)
        rate = {name: batch_size * args.new_tokens / value for name, value in seconds.items()}
        print(f"{batch_size:>6} {rate['lmlab']:>12.0f} {rate['before']:>13.0f} {rate['rerun']:>13.0f} "
              f"{rate['hand']:>16.0f} {rate['lmlab'] / rate['before']:>9.1f}x {rate['lmlab'] / rate['rerun']:>9.1f}x "
              f"{rate['lmlab'] / rate['hand']:>7.2f}x")


# --- scoring --------------------------------------------------------------------------------------------
def score_requests(predictor: LanguageModelPredictor, args: argparse.Namespace) -> List[LanguageModelRequest]:
    return [predictor.validate({"sentence": sentence, "next_token": False})
            for sentence in prompts(args.score_batch, args.score_tokens, seed=2)]


def lmlab_scores(predictor: LanguageModelPredictor, requests: List[LanguageModelRequest]) -> List[float]:
    return [output["log_probability"] for output in predictor.predict_requests(requests)]


def full_block_scores(predictor: LanguageModelPredictor, requests: List[LanguageModelRequest]) -> List[float]:
    """Scoring before: (B, T, V) log-probabilities of the whole batch, gathered at the targets."""
    model = predictor.model
    with torch.inference_mode():
        source = predictor.text_field([request.full for request in requests])
        _, contextual, mask = model.contextualize(source)
        log_probs = model.log_probs(contextual)  # (B, T, V)
        ids = source["tokens"]["tokens"]  # (B, T)
        scores = log_probs[:, :-1].gather(2, ids[:, 1:].unsqueeze(2)).squeeze(2) * mask[:, 1:]  # (B, T - 1)
        return scores.double().sum(dim=1).tolist()


SCORERS = {"lmlab": lmlab_scores, "full": full_block_scores}


def peak_memory(args: argparse.Namespace, way: str) -> float:
    """MB of extra peak memory of one scoring call the `way` way, measured in a fresh process."""
    command = [sys.executable, __file__, "--measure-scoring", way, "--device", args.device,
               "--score-batch", str(args.score_batch), "--score-tokens", str(args.score_tokens),
               "--threads", str(torch.get_num_threads())]
    return float(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)["mb"])


def measure_scoring(args: argparse.Namespace, device: torch.device) -> None:
    predictor = build(device)
    requests = score_requests(predictor, args)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        SCORERS[args.measure_scoring](predictor, requests)
        mb = (torch.cuda.max_memory_allocated() - base) / 2 ** 20
    else:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # Linux: the peak resident set (VmHWM) starts again from the current one
        base = resident_kb("VmRSS")
        SCORERS[args.measure_scoring](predictor, requests)
        mb = (resident_kb("VmHWM") - base) / 1024
    print(json.dumps({"mb": mb}))


def resident_kb(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in KB (VmRSS: now, VmHWM: peak)."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1])


def scoring(args: argparse.Namespace, device: torch.device) -> None:
    predictor = build(device)
    requests = score_requests(predictor, args)
    mine, theirs = lmlab_scores(predictor, requests), full_block_scores(predictor, requests)
    assert all(abs(a - b) <= 1e-4 * abs(b) for a, b in zip(mine, theirs, strict=True))
    seconds = medians({way: functools.partial(scorer, predictor, requests) for way, scorer in SCORERS.items()},
                      device, args.rounds)
    memory = {way: peak_memory(args, way) for way in SCORERS}
    rate = {way: args.score_batch / value for way, value in seconds.items()}
    block = args.score_batch * (args.score_tokens + 1) * VOCAB_SIZE * 4 / 2 ** 20
    print(f"\nscoring: {args.score_batch} sentences x {args.score_tokens} tokens, V = {VOCAB_SIZE} "
          f"(one (B, T, V) float block: {block:.0f} MB)")
    print(f"{'way':>22} {'sentences/s':>12} {'peak MB':>8}")
    print(f"{'lmlab (chunked)':>22} {rate['lmlab']:>12.0f} {memory['lmlab']:>8.0f}")
    print(f"{'(B, T, V) block':>22} {rate['full']:>12.0f} {memory['full']:>8.0f}")
    print(f"{'ratio':>22} {rate['lmlab'] / rate['full']:>11.2f}x {memory['lmlab'] / max(memory['full'], 1e-9):>7.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--prompt-tokens", type=int, default=20)
    parser.add_argument("--new-tokens", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed runs per way (median)")
    parser.add_argument("--score-batch", type=int, default=32)
    parser.add_argument("--score-tokens", type=int, default=128)
    parser.add_argument("--skip", choices=["generation", "scoring"], action="append", default=[])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--measure-scoring", choices=sorted(SCORERS), help=argparse.SUPPRESS)  # internal
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.measure_scoring:
        measure_scoring(args, device)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    if "generation" not in args.skip:
        generation(args, device)
    if "scoring" not in args.skip:
        scoring(args, device)


if __name__ == "__main__":
    main()
