from lmlab.data.data_loaders.data_loader import DataLoader, TensorDict, move_to_device
from lmlab.data.data_loaders.multiprocess_data_loader import MultiProcessDataLoader

__all__ = ["DataLoader", "MultiProcessDataLoader", "TensorDict", "move_to_device"]
