"""Collection schemas: YAML/dict loading, clear errors, plugin registration, schema evolution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core_server.docstore import SchemaError
from core_server.docstore import load_schema
from core_server.docstore import load_yaml
from core_server.testing import store_app

SPEC_YAML = """
name: plugins
fields:
  name:  {type: string, required: true, max_length: 200}
  age:   {type: int, min: 0}
  tags:  {type: list, items: string, indexed: true}
  owner: {type: ref, collection: users, required: true}
  meta:  {type: dict, fields: {color: {type: string, enum: [red, blue]}}}
  city:  {type: string}
indexes:
  - {fields: [name], unique: true}
  - {fields: [age, "city:desc"]}
additional_properties: false
rights: {read: any, create: [editor], update: [editor], delete: [admin]}
"""


def test_spec_yaml_loads() -> None:
    c = load_yaml(SPEC_YAML)
    assert c.name == "plugins" and list(c.fields) == ["name", "age", "tags", "owner", "meta",
                                                       "city"]
    assert c.field("meta.color").enum == ("red", "blue")
    assert c.field("owner").on_delete == "restrict" and c.field("owner").collection == "users"
    assert [(i.name, i.fields, i.unique) for i in c.indexes] == [
        ("ix_name", (("name", False),), True),
        ("ix_age_city", (("age", False), ("city", True)), False),
        ("ix_owner", (("owner", False),), False)]  # refs are always indexed
    assert [f.path for f in c.side_fields()] == ["tags"]
    assert c.rights["delete"] == ["admin"] and c.field("_version").type == "int"
    assert c.field("nosuch") is None and c.field("name.x") is None


@pytest.mark.parametrize("schema, words", [
    ({"fields": {"a": {"type": "text"}}}, ["things", "field a", "unknown type 'text'"]),
    ({"fields": {"a'b": "string"}}, ["things", "field a'b", "must match"]),
    ({"fields": {"a": {"type": "ref"}}}, ["field a", "collection"]),
    ({"fields": {"a": {"type": "ref", "collection": "u", "on_delete": "boom"}}}, ["on_delete"]),
    ({"fields": {"a": {"type": "string", "min": 1}}}, ["field a", "'min'"]),
    ({"fields": {"a": {"type": "int", "default": "x"}}}, ["field a", "default"]),
    ({"fields": {"a": {"type": "int", "colour": 1}}}, ["field a", "unknown keys ['colour']"]),
    ({"fields": {"a": "int"}, "indexes": [{"fields": ["b"]}]}, ["field b", "index 0"]),
    ({"fields": {"a": "int"}, "rights": {"fly": "any"}}, ["rights", "fly"]),
    ({"fields": {"a": "int"}, "oops": 1}, ["collection things", "oops"]),
    ({"fields": {}}, ["collection things", "fields"]),
    ({"fields": {"a": {"type": "string", "pattern": "("}}}, ["field a", "bad pattern"]),
    ({"fields": {"a": {"type": "ref", "collection": "u", "required": True,
                       "on_delete": "set_null"}}}, ["field a", "set_null"]),
    ({"fields": {"a": "int"}, "hooks": {"before_create": 5}}, ["hook before_create"]),
    ([1, 2], ["mapping"]),
])
def test_bad_schemas_name_collection_and_field(schema: Any, words: list[str]) -> None:
    with pytest.raises(SchemaError) as info:
        load_schema(schema, "things")
    for word in words:
        assert word in str(info.value)


def test_bad_collection_names() -> None:
    for name in ("Bad", "a-b", "_x", "x" * 41, "a;drop"):
        with pytest.raises(SchemaError):
            load_schema({"fields": {"a": "int"}}, name)
    with pytest.raises(SchemaError, match="invalid YAML"):
        load_yaml("fields: [", "x")


YAML_INIT = """
def register(registry):
    registry.append('doc-collection', 'labels', 'dsy_plugin', {'schema': 'labels.yaml'})
    registry.append('doc-collection', 'broken', 'dsy_plugin', {'schema': 'broken.yaml'})
    registry.append('doc-collection', 'absent', 'dsy_plugin', {'schema': 'nofile.yaml'})
"""


def test_yaml_plugin_and_failures(tmp_path: Path) -> None:
    files = {"labels.yaml": "fields:\n  text: {type: string, required: true}\n",
             "broken.yaml": "fields:\n  x: {type: nope}\n"}
    url = f"sqlite:///{tmp_path / 'y.sqlite'}"
    with store_app(tmp_path, url, init=YAML_INIT, files=files, name="dsy_plugin") as app:
        client = app.test_client()
        assert client.post("/api/store/labels", json={"text": "t"}).status_code == 201
        plugin = [p for p in client.get("/api/_plugins").json if p["name"] == "dsy_plugin"][0]
        assert plugin["status"] == "failed"
        text = " ".join(plugin["errors"])
        assert "collection broken, field x: unknown type 'nope'" in text
        assert "nofile.yaml not found" in text
        assert client.get("/api/store/broken").status_code == 404


def _schema_files(fields: str, indexes: str = "[]") -> dict[str, str]:
    return {"evolving.yaml": f"fields: {fields}\nindexes: {indexes}\n"}


EVOLVE_INIT = """
def register(registry):
    registry.append('doc-collection', 'evolving', 'dse_plugin', {'schema': 'evolving.yaml'})
"""


def test_schema_changes(tmp_path: Path, db_url: str) -> None:
    def app_with(fields: str, indexes: str = "[]") -> Any:
        return store_app(tmp_path, db_url, init=EVOLVE_INIT, name="dse_plugin",
                         files=_schema_files(fields, indexes))

    with app_with("{a: int}") as app:
        assert app.test_client().post("/api/store/evolving", json={"a": 1}).status_code == 201
    # an optional field and an index: applied without asking
    with app_with("{a: int, b: string}", "[{fields: [b]}, {fields: [a], unique: true}]") as app:
        client = app.test_client()
        assert client.post("/api/store/evolving", json={"a": 2, "b": "x"}).status_code == 201
        assert client.post("/api/store/evolving", json={"a": 2}).status_code == 409
        assert client.get("/api/store/evolving?b=x").json["total"] == 1
    # a type change needs a data migration: reported, not applied
    with app_with("{a: string, b: string}") as app:
        client = app.test_client()
        error = client.get("/api/store/evolving").json["error"]
        assert error["status"] == 503 and error["code"] == "schema_migration_required"
        assert "field a changed from int to string" in error["message"]
        health = client.get("/api/_health?deep=1")
        assert health.status_code == 503 and "evolving" in health.json["checks"]["store"]
    with app_with("{a: int, b: string}") as app:  # the old schema still works
        assert app.test_client().get("/api/store/evolving").json["total"] == 2
