"""The default trainer: mini-batch gradient descent with validation, patience and exact resumption,
in one process or data-parallel over several (`lmlab.training.distributed`)."""
import contextlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Annotated, Any, Dict, Iterable, Iterator, List, Literal, Optional, cast

import torch
from tqdm import tqdm

from lmlab.common.constraints import NonNegativeInt, Pattern, PositiveFloat, PositiveInt, Range
from lmlab.common.errors import ConfigurationError
from lmlab.common.file_utils import atomic_write
from lmlab.common.lazy import Lazy
from lmlab.data.data_loaders import DataLoader, map_tensors, move_to_device
from lmlab.models.model import Model
from lmlab.modules.softmax_losses import SampledSoftmaxLoss
from lmlab.modules.token_embedders.embedding import Embedding
from lmlab.training import distributed
from lmlab.training.callbacks import TrainerCallback
from lmlab.training.checkpointer import Checkpointer, rng_state, set_rng_state
from lmlab.training.evaluation import autocast, count_tokens, evaluate_model
from lmlab.training.learning_rate_schedulers import LearningRateScheduler
from lmlab.training.optimizers import Optimizer
from lmlab.training.trainer import Trainer

logger = logging.getLogger(__name__)

_AMP_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


ValidationMetric = Annotated[str, Pattern(r"[+-].+", '"+name" or "-name" (maximise or minimise that metric)')]
"""A validation metric's name with the direction that is better."""

CudaDevice = Annotated[int, Range(-1)]
"""-1 for the CPU, k >= 0 for GPU k."""


@Trainer.register("gradient_descent")
class GradientDescentTrainer(Trainer):
    """Mini-batch training with validation (per epoch, or every N batches), early stopping and checkpoints.

    Registered as a `Trainer` with name "gradient_descent" (the default).

    Parameters
        model, data_loader, validation_data_loader, serialization_dir   given at run time.
        optimizer: Lazy[Optimizer] = adam      built with the model's named parameters.
        learning_rate_scheduler: Lazy[LearningRateScheduler] = None
        num_epochs: int = 20             0: no training; the model is archived as built (a pretrained one).
        patience: int = None             stop after this many validations in a row without improvement (one
                                         per epoch, or per `validate_every_n_batches`).
        validate_every_n_batches: int = None
                                         also validate after every N batches of an epoch (N, 2N, ... of its
                                         batches; counted from the epoch's start, so it composes with the data
                                         loader's `batches_per_epoch`). Each such validation is scored like an
                                         epoch's: it may write `best.th`, counts for `patience` (training stops
                                         there when it runs out) and steps the scheduler's `step_validation`
                                         (a plateau schedule). Every epoch still ends with a validation, unless
                                         its last batch was just validated. Needs validation data; a multiple
                                         of num_gradient_accumulation_steps.
        validation_metric: str = "-loss" "+name" to maximise, "-name" to minimise a validation metric.
        grad_norm: float = None          scale all gradients so that their total 2-norm is at most this.
        grad_clipping: float = None      clamp every gradient value to [-v, v] (before `grad_norm`).
                                         Both include sparse gradients (see `clip_gradients_`).
        num_gradient_accumulation_steps: int = 1
        checkpoint_every_n_batches: int = None   also checkpoint inside epochs (for crash recovery).
        num_checkpoints_to_keep: int = 2
        cuda_device: int = None          None: the GPU when present, else CPU; -1: CPU; k: GPU k. In a
                                         distributed run with CUDA, every process uses GPU LOCAL_RANK.
        use_amp: bool = False            mixed precision: the forward pass under autocast (CPU or GPU).
        amp_dtype: str = "bfloat16"      "bfloat16", or "float16" (GPU only), whose gradients are scaled by
                                         a `torch.amp.GradScaler` (its state is checkpointed).
        find_unused_parameters: bool = False
                                         distributed runs: let DistributedDataParallel look for parameters
                                         that the loss does not use (needed when there are such).
        log_every_n_batches: int = 10    how often the loss is read (a device sync), shown and passed to
                                         callbacks' `on_log`.
        progress_bar: bool = True        tqdm bar with loss, perplexity and tokens/s (on a terminal).
        callbacks: List[TrainerCallback] = None
    Outputs
        `train()` returns metrics: best_epoch and best_batch (where the best validation was: the epoch, and
        the batches of it done then), best_validation_*, training_* (of the last finished epoch),
        validation_* (of the latest validation), epoch and batch (where that was), timing.
        Writes `metrics_epoch_{E}.json` (at the end of epoch E), `metrics.json` (after every validation),
        `best.th` (the weights at the best validation) and checkpoints to `serialization_dir`.
    Notes
        A checkpoint holds the model, optimizer, scheduler (and gradient scaler), the running training
        loss, and for every process its data loader's position, model metrics, model buffers (carried
        states) and RNG states: `resume()` on any device, with the same number of processes, continues
        exactly, and the epoch's training metrics still cover all of its batches. A validation inside an
        epoch leaves the training state as it found it (carried states, model metrics) and its time is not
        counted as training time; its outcome (best score, patience, scheduler) is in the next checkpoint,
        and a run resumed from before it repeats it identically.

        Distributed (inside `distributed.process_group_from_environment()`): the model is wrapped in
        DistributedDataParallel (gradients averaged over processes at every step; between the batches of
        an accumulated step, under `no_sync`); the data loaders must already be sharded (`DataLoader.shard`,
        the training one `even`). Losses, tokens and model metrics are summed over processes, so the
        figures are those of the whole data; the validation score is taken from rank 0 and patience,
        best epoch and early stopping follow from it on every process alike; rank 0 alone logs and writes
        files. Each process draws its own random numbers (`distributed.seed_process`). Each process's
        loss is the mean over its own batch, and DDP averages the processes' gradients: with equal token
        counts per process this is exactly the step of one process on the union of their batches.
        Mixed precision: autocast leaves the losses (cross entropy, NLL) in float32.
    """

    def __init__(self, model: Model, data_loader: DataLoader, serialization_dir: str,
                 validation_data_loader: Optional[DataLoader] = None, optimizer: Optional[Lazy[Optimizer]] = None,
                 learning_rate_scheduler: Optional[Lazy[LearningRateScheduler]] = None,
                 num_epochs: NonNegativeInt = 20, patience: Optional[PositiveInt] = None,
                 validate_every_n_batches: Optional[PositiveInt] = None, validation_metric: ValidationMetric = "-loss",
                 grad_norm: Optional[PositiveFloat] = None, grad_clipping: Optional[PositiveFloat] = None,
                 num_gradient_accumulation_steps: PositiveInt = 1,
                 checkpoint_every_n_batches: Optional[PositiveInt] = None,
                 num_checkpoints_to_keep: NonNegativeInt = 2, cuda_device: Optional[CudaDevice] = None,
                 use_amp: bool = False, amp_dtype: Literal["bfloat16", "float16"] = "bfloat16",
                 find_unused_parameters: bool = False, log_every_n_batches: PositiveInt = 10,
                 progress_bar: bool = True, callbacks: Optional[List[TrainerCallback]] = None) -> None:
        if validate_every_n_batches is not None and validation_data_loader is None:  # run time: the data given
            raise ConfigurationError("needs validation data (validation_data_path)", "validate_every_n_batches")
        self.device = distributed.process_device(cuda_device)
        if use_amp and amp_dtype == "float16" and self.device.type != "cuda":  # run time: the device found
            raise ConfigurationError("float16 autocast needs a GPU (and a gradient scaler); use bfloat16 on the "
                                     "CPU", "amp_dtype")
        self.model = model.to(self.device)
        self.data_loader, self.validation_data_loader = data_loader, validation_data_loader
        self.serialization_dir = Path(serialization_dir)
        self.num_epochs, self.patience = num_epochs, patience
        self._metric_sign, self._metric_name = (1.0 if validation_metric[0] == "+" else -1.0), validation_metric[1:]
        self.grad_norm, self.grad_clipping = grad_norm, grad_clipping
        self.accumulation = num_gradient_accumulation_steps
        self.checkpoint_every = checkpoint_every_n_batches
        self.validate_every = validate_every_n_batches
        self.checkpointer = Checkpointer(serialization_dir, keep=num_checkpoints_to_keep)
        self.amp_dtype: Optional[torch.dtype] = _AMP_DTYPES[amp_dtype] if use_amp else None
        # float16 gradients underflow without loss scaling; bfloat16 has float32's range and needs none
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.log_every = max(1, log_every_n_batches)
        self.progress_bar = progress_bar and distributed.is_main_process()
        self.callbacks = callbacks or []
        # every registered Optimizer is also a torch optimizer (see lmlab.training.optimizers)
        self.optimizer = cast(torch.optim.Optimizer, (optimizer or Lazy(Optimizer)).construct(
            model_parameters=list(self.model.named_parameters())))
        try:  # optimizer steps per epoch: the last step of an epoch may take fewer batches
            steps_per_epoch: Optional[int] = math.ceil(len(data_loader) / self.accumulation)
        except TypeError:
            steps_per_epoch = None  # streaming data without batches_per_epoch
        self.scheduler = learning_rate_scheduler.construct(
            optimizer=self.optimizer, num_epochs=num_epochs, num_steps_per_epoch=steps_per_epoch) \
            if learning_rate_scheduler else None
        self.ddp: Optional[torch.nn.parallel.DistributedDataParallel] = None
        self._sparse_parameters: List[torch.nn.Parameter] = []  # distributed: averaged here, not by DDP
        if distributed.is_distributed():
            self.ddp = self._data_parallel(find_unused_parameters)
            distributed.seed_process(torch.initial_seed())
        # training position and history; all of it goes into checkpoints
        self.epoch, self.batches_done, self.optimizer_steps = 0, 0, 0
        self.best_score: Optional[float] = None
        self.best_epoch: Optional[int] = None
        self.best_batch: Optional[int] = None  # batches of `best_epoch` done at its best validation
        self.epochs_without_improvement = 0  # validations in a row without improvement (see `patience`)
        self.epoch_totals: Dict[str, float] = {}
        self.metrics: Dict[str, Any] = {}
        self._grad_norm: Optional[torch.Tensor] = None  # of the last step measured (on device: no sync)

    @classmethod
    def check_arguments(cls, arguments: Dict[str, Any]) -> Iterator[ConfigurationError]:
        steps = arguments.get("num_gradient_accumulation_steps", 1)
        for name in ("checkpoint_every_n_batches", "validate_every_n_batches"):
            every = arguments.get(name)
            if every is not None and every % steps:
                yield ConfigurationError(f"must be a multiple of num_gradient_accumulation_steps ({steps}), found "
                                         f"{every}", name)

    def _data_parallel(self, find_unused_parameters: bool) -> torch.nn.parallel.DistributedDataParallel:
        """The model in DistributedDataParallel. Parameters with sparse gradients are left out of it (DDP
        only knows torch.nn.Embedding's; lmlab's embedding and sampled softmax look rows up themselves)
        and averaged by `_step` instead, over gloo; nccl has no sparse all-reduce, so on GPUs they are refused."""
        sparse = [name for name, module in self.model.named_modules() if _has_sparse_gradients(module)]
        if sparse and self.device.type == "cuda":
            raise ConfigurationError(
                f"sparse gradients ({', '.join(sparse)}) cannot be averaged over GPUs (nccl has no sparse "
                "all-reduce): set their `sparse` (a language model's `sparse_embeddings`) to false, or train "
                "with CPU processes (trainer.cuda_device: -1, gloo), where sparse gradients work")
        owned = {id(parameter) for name, module in self.model.named_modules() if name in sparse
                 for parameter in module.parameters(recurse=False)}
        names = [f"{module_name}.{name}" for module_name, module in self.model.named_modules()
                 for name, parameter in module.named_parameters(recurse=False) if id(parameter) in owned]
        torch.nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(self.model, names)
        self._sparse_parameters = [p for p in self.model.parameters() if id(p) in owned]
        # carried states are per process (each has its own streams): buffers are not synced before each
        # forward (only once, when wrapping, before `resume` restores each process's own)
        return torch.nn.parallel.DistributedDataParallel(
            self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
            forward_sync_buffers=False, find_unused_parameters=find_unused_parameters)

    # --- the loop ------------------------------------------------------------------------------
    def train(self) -> Dict[str, Any]:
        for callback in self.callbacks:
            callback.on_start(self)
        start_time = time.perf_counter()
        while self.epoch < self.num_epochs:
            epoch = self.epoch
            train_metrics = self._train_epoch(epoch)  # ends early when patience ran out at a validation in it
            if not self._just_validated():
                validation = self._validate(self.validation_data_loader) \
                    if self.validation_data_loader is not None else {}
                self._score(epoch, validation if validation else train_metrics, validated=bool(validation))
            stop = self._end_epoch(epoch, train_metrics, time.perf_counter() - start_time)
            if stop:
                logger.info("early stopping after epoch %d", epoch)
                break
        for callback in self.callbacks:
            callback.on_end(self, self.metrics)
        return self.metrics

    def _train_epoch(self, epoch: int) -> Dict[str, float]:
        self.model.train()
        if self.batches_done == 0:
            self.epoch_totals = {"loss": 0.0, "tokens": 0.0, "seconds": 0.0}
            self.model.get_metrics(reset=True)
            self.model.reset_states()
        try:
            total: Optional[int] = len(self.data_loader)
        except TypeError:
            total = None
        bar = tqdm(total=total, initial=self.batches_done, desc=f"epoch {epoch}", dynamic_ncols=True,
                   disable=None if self.progress_bar else True, leave=False)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)  # summed on device: no sync per batch
        tokens = torch.zeros((), dtype=torch.float64, device=self.device)
        last_fold = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        for batch in self.data_loader.iter_epoch(epoch, start=self.batches_done):
            steps = (self.batches_done + 1) % self.accumulation == 0
            # between the batches of one accumulated step, gradients are not averaged over processes
            with self.ddp.no_sync() if self.ddp is not None and not steps else contextlib.nullcontext():
                output = self._forward(move_to_device(batch, self.device))
                loss = output["loss"]
                if loss is None:
                    raise ConfigurationError("the model returned no loss for a training batch (missing targets?)")
                penalty = self.model.get_regularization_penalty()
                objective = ((loss + penalty) if penalty is not None else loss) / self.accumulation
                (self.scaler.scale(objective) if self.scaler is not None else objective).backward()
            count = count_tokens(output, batch)
            loss_sum += loss.detach().double() * count
            tokens += count
            self.batches_done += 1
            if steps:
                self._step(measure=self.batches_done % self.log_every == 0)
            for callback in self.callbacks:
                callback.on_batch(self, output, epoch, self.optimizer_steps)
            bar.update(1)
            if self.batches_done % self.log_every == 0:  # sync point: read the running loss
                window = self._fold(loss_sum, tokens, last_fold)
                last_fold = window["until"]
                self._log(epoch, total, bar, window)
            if self._just_validated() and self.validation_data_loader is not None:
                last_fold = self._fold(loss_sum, tokens, last_fold)["until"]
                self._validate_within_epoch(epoch, self.validation_data_loader)
                last_fold = time.perf_counter()  # validation time is not training time
                if self._patience_exhausted():
                    break
            if self.checkpoint_every and self.batches_done % self.checkpoint_every == 0:
                last_fold = self._fold(loss_sum, tokens, last_fold)["until"]
                self._save_checkpoint()
        if self.batches_done % self.accumulation:  # a shorter last step: DDP did not average its gradients
            sparse = {id(parameter) for parameter in self._sparse_parameters}  # `_step` averages those
            distributed.average_gradients_([p for p in self.model.parameters() if id(p) not in sparse])
            self._step(measure=False)
        self._fold(loss_sum, tokens, last_fold)
        bar.close()
        if self.batches_done == 0:
            raise ConfigurationError("the training data loader produced no batches")
        totals = self.epoch_totals
        self.model.all_reduce_metrics()
        return {"loss": totals["loss"] / max(totals["tokens"], 1.0),
                "tokens_per_second": totals["tokens"] / max(totals["seconds"], 1e-9),
                **self.model.get_metrics(reset=True)}

    def _fold(self, loss_sum: torch.Tensor, tokens: torch.Tensor, since: float) -> Dict[str, float]:
        """Add the on-device running sums (then zeroed), summed over processes, and the time since `since`
        to the epoch totals, which checkpoints save. Returns that window: its mean "loss", "tokens",
        "seconds", and the time it ends ("until", from `time.perf_counter`)."""
        window_loss, window_tokens = distributed.all_reduce_sum_(torch.stack([loss_sum, tokens])).tolist()
        now = time.perf_counter()
        self.epoch_totals["loss"] += window_loss
        self.epoch_totals["tokens"] += window_tokens
        self.epoch_totals["seconds"] += now - since
        loss_sum.zero_(), tokens.zero_()
        return {"loss": window_loss / max(window_tokens, 1.0), "tokens": window_tokens, "seconds": now - since,
                "until": now}

    def _log(self, epoch: int, total: Optional[int], bar: Any, window: Dict[str, float]) -> None:
        """Show the epoch's running figures and hand the last window's to the callbacks' `on_log`."""
        totals = self.epoch_totals
        loss = totals["loss"] / max(totals["tokens"], 1.0)
        progress = {"loss": f"{loss:.4f}", "ppl": f"{math.exp(min(loss, 700)):.2f}",
                    "tok/s": f"{totals['tokens'] / max(totals['seconds'], 1e-9):.0f}"}
        bar.set_postfix(progress, refresh=False)
        if bar.disable and distributed.is_main_process():  # no terminal (a log file, CI): to the log instead
            logger.info("epoch %d batch %d/%s: %s", epoch, self.batches_done, total or "?",
                        " ".join(f"{k}={v}" for k, v in progress.items()))
        if not self.callbacks:
            return
        scalars = {"loss": window["loss"], "perplexity": math.exp(min(window["loss"], 700)),
                   "tokens_per_second": window["tokens"] / max(window["seconds"], 1e-9),
                   "learning_rate": float(self.optimizer.param_groups[0]["lr"])}
        if self._grad_norm is not None:
            scalars["grad_norm"] = float(self._grad_norm)
            self._grad_norm = None
        for callback in self.callbacks:
            callback.on_log(self, scalars, self.optimizer_steps)

    def _forward(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        with autocast(self.device, self.amp_dtype):
            return (self.ddp or self.model)(**batch)

    def _step(self, measure: bool) -> None:
        """One optimizer step on the accumulated gradients; `measure`: keep their norm for `on_log`."""
        distributed.average_gradients_(self._sparse_parameters)
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)  # clip and measure the true gradients
        if self.grad_clipping is not None or self.grad_norm is not None or measure:
            self._grad_norm = clip_gradients_(self.model.parameters(), self.grad_clipping, self.grad_norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)  # skipped when the scaled gradients overflowed
            self.scaler.update()
        else:
            self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step_batch()
        self.optimizer.zero_grad(set_to_none=True)
        self.optimizer_steps += 1

    def _validate(self, data_loader: DataLoader) -> Dict[str, float]:
        metrics = evaluate_model(self.model, data_loader, self.device, self.amp_dtype,
                                 desc="validation", progress_bar=self.progress_bar)
        self.model.train()
        return metrics

    def _just_validated(self) -> bool:
        """Whether the batches done so far in this epoch end on a validation of `validate_every_n_batches`."""
        return self.validate_every is not None and self.batches_done > 0 \
            and self.batches_done % self.validate_every == 0

    def _patience_exhausted(self) -> bool:
        return self.patience is not None and self.epochs_without_improvement >= self.patience

    def _validate_within_epoch(self, epoch: int, data_loader: DataLoader) -> None:
        """Validate and score after `batches_done` batches of `epoch`, leaving the training state as it was:
        the carried states (validation resets them) and the model's running training metrics."""
        buffers, training_metrics = self._buffers(), self.model.metric_state()
        validation = self._validate(data_loader)
        self.model.load_state_dict(buffers, strict=False)
        self.model.load_metric_state(training_metrics)
        self._score(epoch, validation, validated=True)
        self.metrics.update({"epoch": epoch, "batch": self.batches_done})
        if distributed.is_main_process():
            logger.info("epoch %d batch %d validated: %s (best: epoch %s batch %s)", epoch, self.batches_done,
                        " ".join(f"{k}={v:.4f}" for k, v in validation.items()), self.best_epoch, self.best_batch)
            self._write_metrics("metrics.json")

    def _score(self, epoch: int, source: Dict[str, float], validated: bool) -> None:
        """Score the metrics of a validation (`validated`), or of an epoch's training when there is no
        validation data: the best score and `best.th`, patience, the scheduler's `step_validation`, and the
        validation_* and best_* entries of the run's metrics."""
        if self._metric_name not in source:
            raise ConfigurationError(f'validation metric "{self._metric_name}" is not among the metrics '
                                     f"({', '.join(sorted(source))})", "trainer.validation_metric")
        # taken once (rank 0's figure), so that every process makes the same patience and best decisions
        score = distributed.broadcast_from_main(self._metric_sign * source[self._metric_name])
        if self.best_score is None or score > self.best_score:
            self.best_score, self.best_epoch, self.best_batch = score, epoch, self.batches_done
            self.epochs_without_improvement = 0
            if distributed.is_main_process():
                with atomic_write(self.serialization_dir / "best.th", "wb") as stream:
                    torch.save(self.model.state_dict(), stream)
            prefix = "best_validation" if validated else "best_training"
            self.metrics.update({f"{prefix}_{k}": v for k, v in source.items()})
        else:
            self.epochs_without_improvement += 1
        if validated:
            self.metrics.update({f"validation_{k}": v for k, v in source.items()})
        self.metrics.update({"best_epoch": self.best_epoch, "best_batch": self.best_batch})
        if self.scheduler is not None:
            self.scheduler.step_validation(score)

    def _end_epoch(self, epoch: int, train: Dict[str, float], elapsed: float) -> bool:
        """Record the finished epoch (its last validation already scored), checkpoint, and say whether to stop."""
        metrics: Dict[str, Any] = {"epoch": epoch, "batch": self.batches_done, "training_duration_seconds": elapsed}
        metrics.update({f"training_{k}": v for k, v in train.items()})
        self.metrics.update(metrics)
        if distributed.is_main_process():
            logger.info("epoch %d done: %s", epoch, " ".join(
                f"{k}={v:.4f}" for k, v in self.metrics.items() if isinstance(v, float) and "duration" not in k))
            self._write_metrics(f"metrics_epoch_{epoch}.json", "metrics.json")
        if self.scheduler is not None:
            self.scheduler.step_epoch()
        for callback in self.callbacks:
            callback.on_epoch(self, self.metrics, epoch)
        self.epoch, self.batches_done = epoch + 1, 0
        self._save_checkpoint()
        return self._patience_exhausted()

    def _write_metrics(self, *names: str) -> None:
        for name in names:
            with atomic_write(self.serialization_dir / name) as stream:
                json.dump(self.metrics, stream, indent=2)

    # --- checkpoints ---------------------------------------------------------------------------
    def _save_checkpoint(self) -> None:
        """Every process hands its own state to rank 0, which writes the checkpoint (a collective call)."""
        processes = distributed.gather_to_main(self._process_state())
        if not distributed.is_main_process():
            return
        state = {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "trainer": {"epoch": self.epoch, "batches_done": self.batches_done,
                        "optimizer_steps": self.optimizer_steps, "best_score": self.best_score,
                        "best_epoch": self.best_epoch, "best_batch": self.best_batch,
                        "epochs_without_improvement": self.epochs_without_improvement,
                        "epoch_totals": dict(self.epoch_totals), "metrics": json.dumps(self.metrics)},
            # one entry per process, by rank
            **{key: [process[key] for process in processes] for key in _PROCESS_STATE},
        }
        self.checkpointer.save(self.epoch, self.batches_done, state)

    def _process_state(self) -> Dict[str, Any]:
        """What differs between processes: data position, metrics, buffers (carried states), RNGs."""
        state = {"data_loader": self.data_loader.state_dict(), "model_metrics": self.model.metric_state(),
                 "model_buffers": self._buffers(), "rng": rng_state()}
        return map_tensors(state, lambda tensor: tensor.detach().cpu()) if distributed.is_distributed() else state

    def _buffers(self) -> Dict[str, Any]:
        """The model's `state_dict` entries that are not parameters: buffers and carried states."""
        parameters = {name for name, _ in self.model.named_parameters(remove_duplicate=False)}
        return {name: value for name, value in self.model.state_dict().items() if name not in parameters}

    def resume(self) -> bool:
        latest = self.checkpointer.latest()
        path = distributed.broadcast_from_main(None if latest is None else str(latest))  # the same file for all
        if path is None:
            return False
        state = self.checkpointer.load(Path(path))  # on the CPU: load_state_dict copies to the right devices
        if len(state["rng"]) != distributed.world_size():
            raise ConfigurationError(f"{path} was written by {len(state['rng'])} process(es), and this run has "
                                     f"{distributed.world_size()}: recover with as many as the run had")
        rank = distributed.rank()
        self.model.load_state_dict(state["model"])
        self.model.load_state_dict(state["model_buffers"][rank], strict=False)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        trainer = state["trainer"]
        self.epoch, self.batches_done, self.optimizer_steps = trainer["epoch"], trainer["batches_done"], \
            trainer["optimizer_steps"]
        self.best_score, self.best_epoch, self.best_batch = trainer["best_score"], trainer["best_epoch"], \
            trainer["best_batch"]
        self.epochs_without_improvement = trainer["epochs_without_improvement"]
        self.epoch_totals = dict(trainer["epoch_totals"])
        self.metrics = json.loads(trainer["metrics"])
        self.data_loader.load_state_dict(state["data_loader"][rank])
        self.model.load_metric_state(move_to_device(state["model_metrics"][rank], self.device))
        set_rng_state(state["rng"][rank])
        logger.info("resumed from %s (epoch %d, %d batches done)", path, self.epoch, self.batches_done)
        return True


_PROCESS_STATE = ("data_loader", "model_metrics", "model_buffers", "rng")
"""The checkpoint entries that hold one value per process (see `GradientDescentTrainer._process_state`)."""


def _has_sparse_gradients(module: torch.nn.Module) -> bool:
    """Whether `module`'s own parameters get sparse gradients (the modules that can be asked for them)."""
    if isinstance(module, (torch.nn.Embedding, torch.nn.EmbeddingBag, Embedding, SampledSoftmaxLoss)):
        return module.sparse
    return False


def clip_gradients_(parameters: Iterable[torch.nn.Parameter], max_value: Optional[float],
                    max_norm: Optional[float]) -> torch.Tensor:
    """Clamp every gradient value to [-max_value, max_value], then scale all gradients together so that
    their total 2-norm is at most `max_norm` (either step skipped when None), in place.

    Inputs
        parameters: their `.grad`, dense or sparse (None is skipped). A sparse gradient is coalesced
        first (`.grad` is replaced), so that a row repeated in the batch is summed before it is clamped
        or measured; its values then count in the norm and are scaled like any dense gradient.
    Outputs
        The total 2-norm before scaling (after clamping), a scalar tensor on the gradients' device
        (0 when there are none); reading it is a host-device sync.
    """
    with torch.no_grad():
        values = []
        for parameter in parameters:
            if parameter.grad is None:
                continue
            if parameter.grad.is_sparse:
                parameter.grad = parameter.grad.coalesce()
                values.append(parameter.grad.values())  # a view: changing it changes the gradient
            else:
                values.append(parameter.grad)
        if max_value is not None:
            for value in values:
                value.clamp_(-max_value, max_value)
        total = torch.nn.utils.get_total_norm(values) if values else torch.zeros(())
        if max_norm is not None:
            scale = (max_norm / (total + 1e-6)).clamp(max=1.0)  # no sync: scaling by 1 is a no-op
            for value in values:
                value.mul_(scale.to(value.device))
    return total
