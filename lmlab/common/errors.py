"""User-facing errors.

Every mistake a user can make (a config, a path, data, prediction input, an archive) raises a subclass of
`LmlabError`. Each error carries one or more *located* problems: a location (a config path such as
`model.contextualizer.hidden_size`, or `file:line`) and a one-line message. The CLI prints one line per
problem and exits non-zero; anything that is not an `LmlabError` is a bug and keeps its traceback.
"""
import difflib
from typing import Iterable, List, Optional, Sequence, Tuple


class LmlabError(Exception):
    """Base class of all user errors. `kind` names the error in the printed line ("config error")."""

    kind = "error"
    exit_code = 1

    def __init__(self, message: str, location: Optional[str] = None) -> None:
        self.problems: List[Tuple[Optional[str], str]] = [(location, message)]
        super().__init__(str(self))

    @classmethod
    def combine(cls, errors: Sequence["LmlabError"]) -> "LmlabError":
        """One error holding every problem of `errors` (all of the same class as the first)."""
        combined = errors[0]
        for other in errors[1:]:
            combined.problems.extend(other.problems)
        combined.args = (str(combined),)
        return combined

    def lines(self) -> List[str]:
        """One line per problem (a multi-line message is folded onto its line)."""
        folded = [(loc, "; ".join(part.strip() for part in msg.splitlines() if part.strip()))
                  for loc, msg in self.problems]
        return [f"{self.kind} at {loc}: {msg}" if loc else f"{self.kind}: {msg}" for loc, msg in folded]

    def __str__(self) -> str:
        return "\n".join(self.lines())


class ConfigurationError(LmlabError):
    """A config (file, overrides or a constructor argument) is wrong. Exit code 2."""

    kind = "config error"
    exit_code = 2

    def relocate(self, prefix: str) -> "ConfigurationError":
        """Prepend the config path `prefix` to every location that does not already start with it.

        Only config errors have config paths: an input or archive error names its file and is never
        relocated (a missing data file read while building `vocabulary` is not at `vocabulary.FILE`).
        """
        self.problems = [(_join(prefix, loc), msg) for loc, msg in self.problems]
        self.args = (str(self),)
        return self


class InputError(LmlabError):
    """Data, prediction input or a path given by the user is wrong."""

    kind = "input error"


class ArchiveError(LmlabError):
    """A model archive or checkpoint is missing, truncated, corrupt or unsafe."""

    kind = "archive error"


def _join(prefix: str, location: Optional[str]) -> str:
    if not location:
        return prefix
    if not prefix or location.startswith(prefix):
        return location
    return prefix + location if location.startswith("[") else f"{prefix}.{location}"


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`'; did you mean "x"?'` for the closest candidate, or '' when nothing is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f'; did you mean "{matches[0]}"?' if matches else ""
