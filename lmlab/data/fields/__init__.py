"""Fields: the named pieces of an `Instance` and how each kind is batched."""
from lmlab.data.fields.array_field import ArrayField
from lmlab.data.fields.field import Field
from lmlab.data.fields.metadata_field import MetadataField
from lmlab.data.fields.text_field import TextField

__all__ = ["ArrayField", "Field", "MetadataField", "TextField"]
