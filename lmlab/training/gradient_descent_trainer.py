"""The default trainer: mini-batch gradient descent with validation, patience and exact resumption."""
import contextlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, cast

import torch
from tqdm import tqdm

from lmlab.common.errors import ConfigurationError
from lmlab.common.file_utils import atomic_write
from lmlab.common.lazy import Lazy
from lmlab.common.util import resolve_device
from lmlab.data.data_loaders import DataLoader, move_to_device
from lmlab.models.model import Model
from lmlab.training.callbacks import TrainerCallback
from lmlab.training.checkpointer import Checkpointer, rng_state, set_rng_state
from lmlab.training.learning_rate_schedulers import LearningRateScheduler
from lmlab.training.optimizers import Optimizer
from lmlab.training.trainer import Trainer

logger = logging.getLogger(__name__)


@Trainer.register("gradient_descent")
class GradientDescentTrainer(Trainer):
    """Mini-batch training with per-epoch validation, early stopping and checkpoints.

    Registered as a `Trainer` with name "gradient_descent" (the default).

    Parameters
        model, data_loader, validation_data_loader, serialization_dir   given at run time.
        optimizer: Lazy[Optimizer] = adam      built with the model's named parameters.
        learning_rate_scheduler: Lazy[LearningRateScheduler] = None
        num_epochs: int = 20
        patience: int = None             stop after this many epochs without improvement.
        validation_metric: str = "-loss" "+name" to maximise, "-name" to minimise a validation metric.
        grad_norm: float = None          scale all gradients so that their total 2-norm is at most this.
        grad_clipping: float = None      clamp every gradient value to [-v, v] (before `grad_norm`).
                                         Both include sparse gradients (see `clip_gradients_`).
        num_gradient_accumulation_steps: int = 1
        checkpoint_every_n_batches: int = None   also checkpoint inside epochs (for crash recovery).
        num_checkpoints_to_keep: int = 2
        cuda_device: int = None          None: the GPU when present, else CPU; -1: CPU; k: GPU k.
        use_amp: bool = False            bf16 autocast on CUDA.
        log_every_n_batches: int = 10    how often the progress bar reads the loss (a device sync).
        progress_bar: bool = True        tqdm bar with loss, perplexity and tokens/s (on a terminal).
        callbacks: List[TrainerCallback] = None
    Outputs
        `train()` returns metrics: best_epoch, best_validation_*, training_*, validation_*, epoch, timing.
        Writes `metrics_epoch_{E}.json`, `metrics.json`, `best.th` (weights of the best epoch) and
        checkpoints to `serialization_dir`.
    Notes
        A checkpoint holds the model, optimizer, scheduler, the data loader's position, the running
        training loss and model metrics of the epoch so far, and every RNG state: `resume()` on any device
        continues exactly, and the epoch's training metrics still cover all of its batches.
    """

    def __init__(self, model: Model, data_loader: DataLoader, serialization_dir: str,
                 validation_data_loader: Optional[DataLoader] = None, optimizer: Optional[Lazy[Optimizer]] = None,
                 learning_rate_scheduler: Optional[Lazy[LearningRateScheduler]] = None, num_epochs: int = 20,
                 patience: Optional[int] = None, validation_metric: str = "-loss", grad_norm: Optional[float] = None,
                 grad_clipping: Optional[float] = None, num_gradient_accumulation_steps: int = 1,
                 checkpoint_every_n_batches: Optional[int] = None, num_checkpoints_to_keep: int = 2,
                 cuda_device: Optional[int] = None, use_amp: bool = False, log_every_n_batches: int = 10,
                 progress_bar: bool = True, callbacks: Optional[List[TrainerCallback]] = None) -> None:
        if validation_metric[:1] not in "+-" or len(validation_metric) < 2:
            raise ConfigurationError(f'expected "+name" or "-name", found "{validation_metric}"', "validation_metric")
        if checkpoint_every_n_batches is not None and checkpoint_every_n_batches % num_gradient_accumulation_steps:
            raise ConfigurationError("must be a multiple of num_gradient_accumulation_steps",
                                     "checkpoint_every_n_batches")
        self.device = resolve_device(cuda_device)
        self.model = model.to(self.device)
        self.data_loader, self.validation_data_loader = data_loader, validation_data_loader
        self.serialization_dir = Path(serialization_dir)
        self.num_epochs, self.patience = num_epochs, patience
        self._metric_sign, self._metric_name = (1.0 if validation_metric[0] == "+" else -1.0), validation_metric[1:]
        self.grad_norm, self.grad_clipping = grad_norm, grad_clipping
        self.accumulation = num_gradient_accumulation_steps
        self.checkpoint_every = checkpoint_every_n_batches
        self.checkpointer = Checkpointer(serialization_dir, keep=num_checkpoints_to_keep)
        self.use_amp = use_amp and self.device.type == "cuda"
        self.log_every, self.progress_bar = max(1, log_every_n_batches), progress_bar
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
        # training position and history; all of it goes into checkpoints
        self.epoch, self.batches_done, self.total_batches = 0, 0, 0
        self.best_score: Optional[float] = None
        self.best_epoch: Optional[int] = None
        self.epochs_without_improvement = 0
        self.epoch_totals: Dict[str, float] = {}
        self.metrics: Dict[str, Any] = {}

    # --- the loop ------------------------------------------------------------------------------
    def train(self) -> Dict[str, Any]:
        for callback in self.callbacks:
            callback.on_start(self)
        start_time = time.perf_counter()
        while self.epoch < self.num_epochs:
            epoch = self.epoch
            train_metrics = self._train_epoch(epoch)
            validation_metrics = self._validate(self.validation_data_loader) \
                if self.validation_data_loader is not None else {}
            stop = self._end_epoch(epoch, train_metrics, validation_metrics, time.perf_counter() - start_time)
            if stop:
                logger.info("early stopping after epoch %d", epoch)
                break
        for callback in self.callbacks:
            callback.on_end(self, self.metrics)
        return self.metrics

    def _train_epoch(self, epoch: int) -> Dict[str, float]:
        self.model.train()
        if self.batches_done == 0:
            self.epoch_totals = {"loss": 0.0, "tokens": 0.0, "batches": 0.0, "seconds": 0.0}
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
        batches, last_fold = 0, time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        for batch in self.data_loader.iter_epoch(epoch, start=self.batches_done):
            output = self._forward(move_to_device(batch, self.device))
            loss = output["loss"]
            if loss is None:
                raise ConfigurationError("the model returned no loss for a training batch (missing targets?)")
            penalty = self.model.get_regularization_penalty()
            (((loss + penalty) if penalty is not None else loss) / self.accumulation).backward()
            count = _count_tokens(output, batch)
            loss_sum += loss.detach().double() * count
            tokens += count
            batches += 1
            self.batches_done += 1
            if self.batches_done % self.accumulation == 0:
                self._step()
            for callback in self.callbacks:
                callback.on_batch(self, output, epoch, self.total_batches)
            bar.update(1)
            if self.batches_done % self.log_every == 0:  # sync point: read the running loss
                last_fold, batches = self._fold(loss_sum, tokens, batches, last_fold), 0
                progress = self._progress()
                bar.set_postfix(progress, refresh=False)
                if bar.disable:  # no terminal (a log file, CI): progress goes to the log instead
                    logger.info("epoch %d batch %d/%s: %s", epoch, self.batches_done, total or "?",
                                " ".join(f"{k}={v}" for k, v in progress.items()))
            if self.checkpoint_every and self.batches_done % self.checkpoint_every == 0:
                last_fold, batches = self._fold(loss_sum, tokens, batches, last_fold), 0
                self._save_checkpoint()
        if self.batches_done % self.accumulation:
            self._step()
        self._fold(loss_sum, tokens, batches, last_fold)
        bar.close()
        totals = self.epoch_totals
        metrics = {"loss": totals["loss"] / max(totals["tokens"], 1.0),
                   "tokens_per_second": totals["tokens"] / max(totals["seconds"], 1e-9),
                   **self.model.get_metrics(reset=True)}
        if self.batches_done == 0:
            raise ConfigurationError("the training data loader produced no batches")
        return metrics

    def _fold(self, loss_sum: torch.Tensor, tokens: torch.Tensor, batches: int, since: float) -> float:
        """Add the on-device running sums (then zeroed) and the time since `since` to the epoch totals,
        which checkpoints save; returns the time of this fold."""
        now = time.perf_counter()
        self.epoch_totals["loss"] += float(loss_sum)
        self.epoch_totals["tokens"] += float(tokens)
        self.epoch_totals["batches"] += batches
        self.epoch_totals["seconds"] += now - since
        loss_sum.zero_(), tokens.zero_()
        return now

    def _progress(self) -> Dict[str, str]:
        totals = self.epoch_totals
        loss = totals["loss"] / max(totals["tokens"], 1.0)
        return {"loss": f"{loss:.4f}", "ppl": f"{math.exp(min(loss, 700)):.2f}",
                "tok/s": f"{totals['tokens'] / max(totals['seconds'], 1e-9):.0f}"}

    def _forward(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.use_amp else contextlib.nullcontext()
        with autocast:
            return self.model(**batch)

    def _step(self) -> None:
        if self.grad_clipping is not None or self.grad_norm is not None:
            clip_gradients_(self.model.parameters(), self.grad_clipping, self.grad_norm)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step_batch()
        self.optimizer.zero_grad(set_to_none=True)
        self.total_batches += 1

    def _validate(self, data_loader: DataLoader) -> Dict[str, float]:
        metrics = evaluate_model(self.model, data_loader, self.device, self.use_amp,
                                 desc="validation", progress_bar=self.progress_bar)
        self.model.train()
        return metrics

    def _end_epoch(self, epoch: int, train: Dict[str, float], validation: Dict[str, float], elapsed: float) -> bool:
        metrics: Dict[str, Any] = {"epoch": epoch, "training_duration_seconds": elapsed}
        metrics.update({f"training_{k}": v for k, v in train.items()})
        metrics.update({f"validation_{k}": v for k, v in validation.items()})
        source = validation if validation else train
        if self._metric_name not in source:
            raise ConfigurationError(f'validation metric "{self._metric_name}" is not among the metrics '
                                     f"({', '.join(sorted(source))})", "trainer.validation_metric")
        score = self._metric_sign * source[self._metric_name]
        if self.best_score is None or score > self.best_score:
            self.best_score, self.best_epoch, self.epochs_without_improvement = score, epoch, 0
            with atomic_write(self.serialization_dir / "best.th", "wb") as stream:
                torch.save(self.model.state_dict(), stream)
        else:
            self.epochs_without_improvement += 1
        metrics["best_epoch"] = self.best_epoch
        if self.best_epoch == epoch:
            self.metrics.update({f"best_validation_{k}" if validation else f"best_training_{k}": v
                                 for k, v in source.items()})
        self.metrics.update(metrics)
        logger.info("epoch %d done: %s", epoch, " ".join(
            f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float) and "duration" not in k))
        with atomic_write(self.serialization_dir / f"metrics_epoch_{epoch}.json") as stream:
            json.dump(self.metrics, stream, indent=2)
        with atomic_write(self.serialization_dir / "metrics.json") as stream:
            json.dump(self.metrics, stream, indent=2)
        if self.scheduler is not None:
            self.scheduler.step_epoch(score)
        for callback in self.callbacks:
            callback.on_epoch(self, self.metrics, epoch)
        self.epoch, self.batches_done = epoch + 1, 0
        self._save_checkpoint()
        return self.patience is not None and self.epochs_without_improvement >= self.patience

    # --- checkpoints ---------------------------------------------------------------------------
    def _save_checkpoint(self) -> None:
        state = {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "trainer": {"epoch": self.epoch, "batches_done": self.batches_done, "total_batches": self.total_batches,
                        "best_score": self.best_score, "best_epoch": self.best_epoch,
                        "epochs_without_improvement": self.epochs_without_improvement,
                        "epoch_totals": dict(self.epoch_totals), "metrics": json.dumps(self.metrics)},
            "data_loader": self.data_loader.state_dict(),
            "model_metrics": self.model.metric_state(),
            "rng": rng_state(),
        }
        self.checkpointer.save(self.epoch, self.batches_done, state)

    def resume(self) -> bool:
        path = self.checkpointer.latest()
        if path is None:
            return False
        state = self.checkpointer.load(path)  # on the CPU: load_state_dict copies to the right devices
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        trainer = state["trainer"]
        self.epoch, self.batches_done, self.total_batches = trainer["epoch"], trainer["batches_done"], \
            trainer["total_batches"]
        self.best_score, self.best_epoch = trainer["best_score"], trainer["best_epoch"]
        self.epochs_without_improvement = trainer["epochs_without_improvement"]
        self.epoch_totals = dict(trainer["epoch_totals"])
        self.metrics = json.loads(trainer["metrics"])
        self.data_loader.load_state_dict(state["data_loader"])
        self.model.load_metric_state(move_to_device(state["model_metrics"], self.device))
        set_rng_state(state["rng"])
        logger.info("resumed from %s (epoch %d, %d batches done)", path, self.epoch, self.batches_done)
        return True


def evaluate_model(model: Model, data_loader: DataLoader, device: torch.device, use_amp: bool = False,
                   desc: str = "evaluation", progress_bar: bool = True) -> Dict[str, float]:
    """Token-weighted mean loss and the model's metrics over one pass of `data_loader`."""
    model.eval()
    model.get_metrics(reset=True)
    model.reset_states()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    tokens = torch.zeros((), dtype=torch.float64, device=device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        for batch in tqdm(data_loader.iter_epoch(0), desc=desc, leave=False, disable=None if progress_bar else True):
            output = model(**move_to_device(batch, device))
            if output.get("loss") is not None:
                count = _count_tokens(output, batch)
                loss_sum += output["loss"].double() * count
                tokens += count
    model.reset_states()
    metrics = model.get_metrics(reset=True)
    if float(tokens) > 0:
        metrics = {"loss": float(loss_sum) / float(tokens), **metrics}
    return metrics


def _count_tokens(output: Dict[str, Any], batch: Dict[str, Any]) -> torch.Tensor:
    """Tokens the loss averages over: the model's `num_target_tokens`, else 1 per batch."""
    count = output.get("num_target_tokens")
    return count.double() if isinstance(count, torch.Tensor) else torch.tensor(float(count or 1))


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
