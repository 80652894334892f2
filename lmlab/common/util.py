"""Small run-time helpers: device choice and seeding (torch imported lazily to keep `import lmlab` light)."""
import random
from typing import TYPE_CHECKING, Optional

from lmlab.common.errors import ConfigurationError

if TYPE_CHECKING:
    import torch


def resolve_device(cuda_device: Optional[int]) -> "torch.device":
    """None: the first GPU when one is present, else the CPU; -1: the CPU; k: GPU k."""
    import torch

    if cuda_device is None:
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if cuda_device < 0:
        return torch.device("cpu")
    if not torch.cuda.is_available() or cuda_device >= torch.cuda.device_count():
        raise ConfigurationError(f"CUDA device {cuda_device} is not available "
                                 f"({torch.cuda.device_count()} GPU(s) found)", "cuda_device")
    return torch.device(f"cuda:{cuda_device}")


def set_seeds(random_seed: Optional[int], numpy_seed: Optional[int], pytorch_seed: Optional[int]) -> None:
    """Seed python's, numpy's and torch's generators (each skipped when None)."""
    import numpy
    import torch

    if random_seed is not None:
        random.seed(random_seed)
    if numpy_seed is not None:
        numpy.random.seed(numpy_seed)
    if pytorch_seed is not None:
        torch.manual_seed(pytorch_seed)
