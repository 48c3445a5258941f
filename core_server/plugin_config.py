"""A plugin's own config defaults, as each TDP generation supplied them.

Phovea-era plugins return a dict, the *path* of a ``config.json`` or None from
``phovea_config()`` (or their ``phovea.config`` entry point); their files may carry ``//`` and
``/* */`` comments and trailing commas, as TDP read them with a lenient JSON reader. Visyn-era
plugins give a pydantic ``setting_class`` whose defaults are the config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import json5

__all__ = ["PluginConfigError", "config_of", "loads", "model_defaults", "read_json"]


class PluginConfigError(ValueError):
    """A plugin's config cannot be read; the message names the file or the model."""


def config_of(result: Any, where: str) -> dict[str, Any]:
    """The config ``phovea_config()`` (named by ``where``) returned: a dict, a path, or None."""
    if result is None:
        return {}
    if isinstance(result, dict):
        return result
    if isinstance(result, (str, Path)):
        return read_json(Path(result))
    raise PluginConfigError(f"{where} returned {type(result).__name__}; expected a dict, the "
                            "path of a config.json, or None")


def read_json(file: Path) -> dict[str, Any]:
    """A plugin's ``config.json``, comments and trailing commas allowed (plain JSON is fast)."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PluginConfigError(f"cannot read plugin config {file}: {exc.strerror}") from exc
    try:
        data = loads(text)
    except ValueError as exc:
        raise PluginConfigError(f"plugin config {file} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PluginConfigError(f"plugin config {file} must be a JSON object")
    return data


def loads(text: str) -> Any:
    """JSON text as TDP's config files were written: comments and trailing commas allowed.

    :raises ValueError: the text is not JSON, not even with comments.
    """
    try:
        return json.loads(text)
    except ValueError:
        return json5.loads(text)


def model_defaults(model: Any) -> dict[str, Any]:
    """The defaults of a pydantic settings model as a JSON-able dict (pydantic 2 or 1).

    A model with required fields is built without validation: the fields without a default
    are left to the config (and reported when the merged section is validated).
    """
    try:
        instance = model()
    except Exception:  # required fields: take the defaults that exist
        construct = getattr(model, "model_construct", None) or model.construct
        instance = construct()
    dump = getattr(instance, "model_dump", None)
    try:
        data = dump(mode="json", warnings=False) if dump else json.loads(instance.json())
    except Exception as exc:  # defaults that do not serialise
        raise PluginConfigError(f"the defaults of {model.__name__} cannot be read: {exc}") from exc
    return data if isinstance(data, dict) else {}
