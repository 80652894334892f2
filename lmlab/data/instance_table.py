"""`InstanceTable`: the instances of a data set held in memory, which a data loader batches by index."""
from typing import Any, Dict, Iterator, List, Sequence

from lmlab.data.batch import Batch
from lmlab.data.instance import Instance
from lmlab.data.vocabulary import Counter, Vocabulary


class InstanceTable:
    """N instances with the same fields, in reading order: counted, indexed and batched as a whole.

    `DatasetReader.read_all` returns one. The default, `InstanceList`, holds `Instance` objects; a reader
    whose data is arrays may return a leaner table that builds the same batches straight from them (the
    contiguous reader's token stream), without an object per instance.

    Inputs
        `indices`: positions 0 <= i < N, in the order the batch lists its rows.
    Outputs
        `batch(indices)`: what `Batch([instances...]).as_tensor_dict()` gives for those instances, e.g.
        {"source": {"tokens": {"tokens": LongTensor (B, T)}}, ...}; `num_tokens(indices)`: their
        `Instance.get_num_tokens()`. Iterating yields the instances themselves (built on demand by a lean
        table; meant for inspection, not for training).
    Notes
        Lifecycle: `count_vocab_items(counter)` (while the vocabulary is built), `index_with(vocab)`, then
        `batch(...)` any number of times, possibly in data-loader worker processes (a table pickles).
    """

    def __len__(self) -> int:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Instance]:
        raise NotImplementedError

    def count_vocab_items(self, counter: Counter) -> None:
        """Add the vocabulary items of every instance to `counter`, as `Instance.count_vocab_items` does."""
        raise NotImplementedError

    def index_with(self, vocab: Vocabulary) -> None:
        """Index every instance with `vocab` (again when it is another vocabulary)."""
        raise NotImplementedError

    def num_tokens(self, indices: Sequence[int]) -> List[int]:
        raise NotImplementedError

    def batch(self, indices: Sequence[int]) -> Dict[str, Any]:
        raise NotImplementedError


class InstanceList(InstanceTable):
    """A table of `Instance` objects: each counted, indexed and collated by its own fields.

    Parameters
        instances: List[Instance]   kept as given (not copied); indexing stores arrays in their fields.
    """

    def __init__(self, instances: List[Instance]) -> None:
        self.instances = instances

    def __len__(self) -> int:
        return len(self.instances)

    def __iter__(self) -> Iterator[Instance]:
        return iter(self.instances)

    def count_vocab_items(self, counter: Counter) -> None:
        for instance in self.instances:
            instance.count_vocab_items(counter)

    def index_with(self, vocab: Vocabulary) -> None:
        for instance in self.instances:
            instance.index_fields(vocab)

    def num_tokens(self, indices: Sequence[int]) -> List[int]:
        return [self.instances[i].get_num_tokens() for i in indices]

    def batch(self, indices: Sequence[int]) -> Dict[str, Any]:
        return Batch([self.instances[i] for i in indices]).as_tensor_dict()
