from lmlab.training.callbacks import TrainerCallback
from lmlab.training.clip_gates import ClipGates
from lmlab.training.evaluation import evaluate_model
from lmlab.training.gradient_descent_trainer import GradientDescentTrainer
from lmlab.training.learning_rate_schedulers import LearningRateScheduler
from lmlab.training.optimizers import Optimizer
from lmlab.training.tensorboard import TensorBoard
from lmlab.training.trainer import Trainer

__all__ = ["ClipGates", "GradientDescentTrainer", "LearningRateScheduler", "Optimizer", "TensorBoard", "Trainer",
           "TrainerCallback", "evaluate_model"]
