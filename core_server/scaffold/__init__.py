"""Scaffolding: ``core-server new-plugin`` and ``core-server add-extension``.

Templates are plain files under ``templates/`` (package data) with ``@{name}`` placeholders.
"""

from core_server.scaffold.errors import ScaffoldError
from core_server.scaffold.extension import AddedExtension
from core_server.scaffold.extension import add_extension
from core_server.scaffold.extension import canonical_type
from core_server.scaffold.plugin import NewPlugin
from core_server.scaffold.plugin import new_plugin
from core_server.scaffold.plugin import validate_name

__all__ = ["AddedExtension", "NewPlugin", "ScaffoldError", "add_extension", "canonical_type",
           "new_plugin", "validate_name"]
