"""Config machinery shared by every layer: registries, FromParams, Params, errors and plugins."""
from lmlab.common.errors import ArchiveError, ConfigurationError, InputError, LmlabError
from lmlab.common.from_params import FromParams, to_params
from lmlab.common.lazy import Lazy
from lmlab.common.params import Params
from lmlab.common.registrable import Registrable

__all__ = ["ArchiveError", "ConfigurationError", "FromParams", "InputError", "Lazy", "LmlabError", "Params",
           "Registrable", "to_params"]
