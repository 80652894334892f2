"""lmlab: train, evaluate, serve and compress language models from Jsonnet configs."""
from lmlab.version import VERSION as __version__  # noqa: F401
