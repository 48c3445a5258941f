"""The document store's schema types: :class:`Collection`, :class:`Field`, :class:`Index`,
:class:`Action`, :class:`Selection` and the constants every other docstore module shares.

This module imports nothing of core_server: the loaders (``schema``, ``fields``, ``behaviour``),
validation, SQL and routes all build on it, so it is where the store's layers start.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

#: Names of collections and fields: safe to appear in SQL text and JSON paths.
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
COLLECTION_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

SCALAR_TYPES = frozenset({"string", "int", "float", "bool", "datetime", "ref"})
TYPES = SCALAR_TYPES | {"list", "dict", "refs"}
ON_DELETE = ("restrict", "cascade", "unlink", "set_null")
#: Server-owned fields; each one is a real column of the collection table.
AUTO_FIELDS = ("_id", "_version", "_created_at", "_updated_at", "_created_by", "_updated_by")
AUTO_TYPES = {"_id": "string", "_version": "int", "_created_at": "datetime",
              "_updated_at": "datetime", "_created_by": "string", "_updated_by": "string"}
HOOKS = ("before_validate", "before_create", "after_create", "before_update", "after_update",
         "before_delete", "after_delete")
RIGHT_ACTIONS = ("read", "create", "update", "delete")
#: Strings stored in an index or side table are capped (MariaDB index key size).
INDEXED_STRING_MAX = 500


class SchemaError(ValueError):
    """A collection schema is invalid; the message names the collection and field."""


@dataclass(frozen=True)
class Field:
    """One declared field (``path`` is dotted for nested dict fields)."""

    path: str
    type: str
    required: bool = False
    nullable: bool = False
    default: Any = None
    has_default: bool = False
    enum: tuple[Any, ...] | None = None
    pattern: re.Pattern[str] | None = None
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    items: Field | None = None
    fields: dict[str, Field] = dc_field(default_factory=dict)
    collection: str | None = None
    on_delete: str = "restrict"
    rights: dict[str, Any] = dc_field(default_factory=dict)
    indexed: bool = False
    description: str = ""

    @property
    def name(self) -> str:
        """The last path segment."""
        return self.path.rsplit(".", 1)[-1]

    @property
    def is_list(self) -> bool:
        """True for ``list`` and ``refs``."""
        return self.type in ("list", "refs")

    @property
    def element_type(self) -> str:
        """The scalar type compared in filters (list items' type for lists, ``ref`` for refs)."""
        if self.type == "refs":
            return "ref"
        if self.type == "list" and self.items is not None:
            return self.items.type
        return self.type

    @property
    def has_side_table(self) -> bool:
        """Lists of scalars and refs get a ``(doc_id, value)`` side table."""
        return self.type == "refs" or (self.type == "list" and self.items is not None
                                       and self.items.type in SCALAR_TYPES)


@dataclass(frozen=True)
class Index:
    """A schema index: ``(path, descending)`` pairs."""

    name: str
    fields: tuple[tuple[str, bool], ...]
    unique: bool = False


@dataclass(frozen=True)
class Action:
    """A plugin action: validated params and ``handler(tx, doc, params) -> result``."""

    name: str
    params: dict[str, Field]
    handler: Callable[..., Any]
    right: Any = None


@dataclass(frozen=True)
class Selection:
    """A named projection + filter; rows are lists with ``_id`` first."""

    name: str
    fields: tuple[str, ...]
    filter: dict[str, Any]
    sort: tuple[str, ...] = ()


@dataclass(frozen=True)
class Collection:
    """A validated collection schema."""

    name: str
    fields: dict[str, Field]
    indexes: tuple[Index, ...] = ()
    additional_properties: bool = False
    rights: dict[str, Any] = dc_field(default_factory=dict)
    hooks: dict[str, tuple[Callable[..., Any], ...]] = dc_field(default_factory=dict)
    actions: dict[str, Action] = dc_field(default_factory=dict)
    selections: dict[str, Selection] = dc_field(default_factory=dict)
    description: str = ""
    source: dict[str, Any] = dc_field(default_factory=dict)

    def field(self, path: str) -> Field | None:
        """The field at a dotted ``path`` (auto fields included), or ``None``."""
        if path in AUTO_TYPES:
            return Field(path, AUTO_TYPES[path])
        parts = path.split(".")
        node = self.fields.get(parts[0])
        for part in parts[1:]:
            if node is None or node.type != "dict":
                return None
            node = node.fields.get(part)
        return node

    def walk(self) -> Iterator[Field]:
        """Every declared field, nested ones included, parents first."""
        stack = list(self.fields.values())
        while stack:
            current = stack.pop(0)
            yield current
            stack[0:0] = list(current.fields.values())

    def side_fields(self) -> list[Field]:
        """Fields with a side table."""
        return [f for f in self.walk() if f.has_side_table]

    def ref_fields(self) -> tuple[Field, ...]:
        """``ref`` and ``refs`` fields."""
        return self._ref_fields

    @functools.cached_property
    def _ref_fields(self) -> tuple[Field, ...]:
        # asked on every create and update: the schema never changes, the walk is done once
        return tuple(f for f in self.walk() if f.type in ("ref", "refs"))

    def index_paths(self) -> set[str]:
        """Paths that appear in some index."""
        return {path for index in self.indexes for path, _ in index.fields}
