from lmlab.data.data_loaders.data_loader import DataLoader, TensorDict, map_tensors, move_to_device
from lmlab.data.data_loaders.multiprocess_data_loader import MultiProcessDataLoader

__all__ = ["DataLoader", "MultiProcessDataLoader", "TensorDict", "map_tensors", "move_to_device"]
