"""`Batch`: a list of instances, collated field by field into tensors."""
from typing import Any, Dict, Iterable, Iterator, List

from lmlab.data.instance import Instance
from lmlab.data.vocabulary import Vocabulary


class Batch:
    """B instances with the same field names, turned into the model's input dict.

    Parameters
        instances: List[Instance]   at least one; every instance has the same field names.
    Outputs
        `as_tensor_dict()`: {field name: that field class's `batch(...)` of the B fields}, e.g.
        {"source": {"tokens": {"tokens": LongTensor (B, T)}}}. Instances must be indexed first
        (`index_instances(vocab)` or `Instance.index_fields`).
    """

    __slots__ = ("instances",)

    def __init__(self, instances: Iterable[Instance]) -> None:
        self.instances: List[Instance] = list(instances)
        if not self.instances:
            raise ValueError("a Batch needs at least one instance")
        names = list(self.instances[0].fields)
        for position, instance in enumerate(self.instances):
            if list(instance.fields) != names and set(instance.fields) != set(names):
                raise ValueError(f"instance {position} of the batch has fields {sorted(instance.fields)}, "
                                 f"instance 0 has {sorted(names)}")

    def __len__(self) -> int:
        return len(self.instances)

    def __iter__(self) -> Iterator[Instance]:
        return iter(self.instances)

    def index_instances(self, vocab: Vocabulary) -> None:
        for instance in self.instances:
            instance.index_fields(vocab)

    def get_num_tokens(self) -> int:
        """Sum of `Instance.get_num_tokens` (real tokens, no padding)."""
        return sum(instance.get_num_tokens() for instance in self.instances)

    def as_tensor_dict(self) -> Dict[str, Any]:
        first = self.instances[0]
        return {name: field.batch([instance.fields[name] for instance in self.instances])
                for name, field in first.fields.items()}

    def __repr__(self) -> str:
        return f"Batch({len(self.instances)} instances, fields: {', '.join(self.instances[0].fields)})"
