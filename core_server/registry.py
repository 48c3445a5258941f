"""The plugin registry: every extension point, plugin discovery and lazy loading.

A plugin is a Python package that calls ``registry.append(type, id, module, desc)`` from one of
three plugin API generations (:data:`GENERATIONS`): ``register(registry)`` (ours),
``phovea(registry)`` (Phovea/TDP up to tdp_core 14, config from ``phovea_config()``) or a class
with ``register(self, registry)`` (``visyn.plugin``, tdp_core 15+, config defaults from its
``setting_class``). Plugins are found through the entry-point groups :data:`ENTRY_POINT_GROUPS`
and as folders in plugin directories. Failures never stop discovery: they are recorded on the
:class:`Plugin` and reported by ``/api/_plugins`` and ``core-server check``; extension types that
core_server does not serve are kept and reported as warnings.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.metadata
import inspect
import json
import sys
import traceback
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from types import ModuleType
from typing import Any

from core_server import plugin_config

# --- extension types (the hook specification) -------------------------------------------------

DB_CONNECTOR = "db-connector"
"""``create() -> DBConnector``: a SQL connector served at ``/api/db/<id>``."""

DB_CONNECTOR_EXTENSION = "db-connector-extension"
"""``create() -> DBConnector``: a connector with its own id sharing the engine of ``desc['base']``."""

NAMESPACE = "namespace"
"""``create() -> flask.Blueprint | flask.Flask``: mounted at ``desc['namespace']``."""

ENDPOINT = "endpoint"
"""``create() -> fn(request, user, app)``: served at ``/api/proxy/<desc['route']>``."""

DOC_COLLECTION = "doc-collection"
"""``create() -> dict`` schema, or ``desc['schema']`` naming a YAML file: a document collection."""

SECURITY_PROVIDER = "security-provider"
"""``create() -> provider``: a user store with ``login(name, password)`` and ``load(name)``."""

MAPPING_PROVIDER = "mapping-provider"
"""``create() -> iterable of (from_idtype, to_idtype, fn(ids) -> [[targets], ...])``."""

JSON_ENCODER = "json-encoder"
"""``create() -> fn(value) -> JSON-able``: converts values of types core_server cannot encode."""

COMMAND = "command"
"""``create() -> click.Command``: an extra ``core-server`` CLI command."""

USER_STORES = "user_stores"
"""TDP's alias of :data:`SECURITY_PROVIDER` whose ``create()`` returns a TDP/Phovea user store
(``login(username, extra_fields)``, ``load_from_key(key)``...) or None; adapted by security."""

TDP_PROXY = "tdp_proxy"
"""No module; ``desc = {url, name?, headers?}``: a site fetched by ``/api/tdp/proxy/<id>``."""

TDP_CONFIG_SAFE_KEYS = "tdp-config-safe-keys"
"""No module; ``desc = {configKey}``: a config key readable at ``/api/tdp/config/<id>``."""

TDP_DB_MIGRATION = "tdp-sql-database-migration"
"""No module; ``desc = {scriptLocation, dbKey, configKey?, autoUpgrade?}``: alembic migrations."""

#: Types whose extensions are descriptions only (TDP registers them with the module ``''``).
DESC_ONLY_TYPES = frozenset({TDP_PROXY, TDP_CONFIG_SAFE_KEYS, TDP_DB_MIGRATION})

#: Every extension type with its contract (docs and tests are checked against this table).
EXTENSION_TYPES: dict[str, str] = {
    name: doc
    for name, doc in (
        (DB_CONNECTOR, "create() -> DBConnector, served at /api/db/<id>"),
        (DB_CONNECTOR_EXTENSION, "create() -> DBConnector sharing the engine of desc['base']"),
        (NAMESPACE, "create() -> Blueprint or Flask app mounted at desc['namespace']"),
        (ENDPOINT, "create() -> fn(request, user, app) at /api/proxy/<desc['route']>"),
        (DOC_COLLECTION, "create() -> schema dict, or desc['schema'] = YAML file in the package"),
        (SECURITY_PROVIDER, "create() -> user store provider"),
        (MAPPING_PROVIDER, "create() -> iterable of (from, to, fn(ids) -> [[targets]])"),
        (JSON_ENCODER, "create() -> fn(value) -> JSON-able value"),
        (COMMAND, "create() -> click.Command added to core-server"),
        (TDP_PROXY, "desc {url, name?, headers?}: a site served at /api/tdp/proxy/<id>"),
        (TDP_CONFIG_SAFE_KEYS, "desc {configKey}: a key readable at /api/tdp/config/<id>"),
        (TDP_DB_MIGRATION, "desc {scriptLocation, dbKey, configKey?, autoUpgrade?}: alembic"),
    )
}

#: TDP/Phovea type names accepted as aliases of ours.
ALIASES: dict[str, str] = {
    "tdp-sql-database-definition": DB_CONNECTOR,
    "tdp-sql-database-extension": DB_CONNECTOR_EXTENSION,
    "mapping_provider": MAPPING_PROVIDER,
    "tdp-mapping-provider": MAPPING_PROVIDER,
    USER_STORES: SECURITY_PROVIDER,
}

#: TDP server-side types that have no meaning here: accepted with a warning so that TDP plugins
#: still load, instead of failing on an extension we would never use.
IGNORED_LEGACY_TYPES = frozenset({
    "greenifier", "manager",
    "tdp-plugin-migration", "phovea-server-extension", "after_server_started",
})

#: Entry-point group -> the plugin API generation it holds.
GENERATIONS: dict[str, str] = {
    "core_server.plugins": "core_server",  # register(registry) in a module
    "phovea.registry": "phovea",  # phovea(registry); config from the phovea.config group
    "visyn.plugin": "visyn",  # a class: register(self, registry), init_app, setting_class
}
ENTRY_POINT_GROUPS = tuple(GENERATIONS)
#: What visyn plugins' ``append_router`` registers: a FastAPI ``APIRouter`` (not served here).
FASTAPI_ROUTER = "fastapi_router"
CONFIG_ENTRY_POINT_GROUP = "phovea.config"
#: The class name TDP's plugin template gives a visyn plugin in its ``__init__.py``.
VISYN_CLASS = "VisynPlugin"


class RegistryError(Exception):
    """A plugin registered something invalid; the message names the plugin."""


@dataclass
class Extension:
    """One registered extension; :meth:`load` imports its module on first use."""

    type: str
    id: str
    module: str
    desc: dict[str, Any]
    plugin: str
    #: the type name the plugin used (a TDP alias, e.g. ``user_stores``), if not ``type``
    alias: str | None = None
    _module: ModuleType | None = field(default=None, repr=False)

    def load(self) -> Extension:
        """Import the module (once) and return ``self``, so ``ext.load().factory()`` works (TDP)."""
        if self._module is None:
            self._module = importlib.import_module(self.module)
        return self

    @property
    def factory(self) -> Callable[..., Any]:
        """The module's ``create`` (or the function named by ``desc['factory']``)."""
        module = self.load()._module
        name = self.desc.get("factory", "create")
        try:
            return getattr(module, name)  # type: ignore[no-any-return]
        except AttributeError:
            raise RegistryError(f"module {self.module} of plugin {self.plugin} has no "
                                f"function {name}() for {self.type} {self.id!r}") from None

    def create(self, *args: Any, **kwargs: Any) -> Any:
        """Call the factory; the extension's own errors propagate with the plugin named."""
        return self.factory(*args, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description for ``/api/_plugins``."""
        return {"type": self.type, "id": self.id, "module": self.module,
                "desc": {k: v for k, v in self.desc.items() if not callable(v)}}


@dataclass
class Plugin:
    """A discovered plugin, its extensions and what went wrong while loading it."""

    name: str
    path: str
    source: str
    version: str = "0.0.0"
    extensions: list[Extension] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    #: ``core_server``, ``phovea`` or ``visyn`` (see :data:`GENERATIONS`)
    generation: str = "core_server"
    #: a visyn plugin's instance (``init_app(app)``, ``setting_class``); None otherwise
    instance: Any = field(default=None, repr=False)
    #: a visyn plugin's ``setting_class`` instance over its merged config section
    settings: Any = field(default=None, repr=False)

    @property
    def settings_model(self) -> Any:
        """A visyn plugin's ``setting_class`` (a pydantic model class), or None."""
        return getattr(self.instance, "setting_class", None) if self.instance else None

    @property
    def status(self) -> str:
        """``loaded`` or ``failed``."""
        return "failed" if self.errors else "loaded"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description for ``/api/_plugins``."""
        return {"name": self.name, "version": self.version, "path": self.path,
                "source": self.source, "generation": self.generation,
                "status": self.status, "errors": self.errors,
                "warnings": self.warnings, "extensions": [e.to_dict() for e in self.extensions]}


class PluginRegistrar:
    """What a plugin's ``register(registry)`` receives: ``append`` bound to that plugin."""

    def __init__(self, registry: Registry, plugin: Plugin) -> None:
        self._registry = registry
        self._plugin = plugin

    def append(self, type: str, id: str, module: str, desc: dict[str, Any] | None = None) -> None:
        """Register extension ``id`` of ``type`` implemented by ``module`` (``.x`` = relative)."""
        self._registry.add(self._plugin, type, id, module, desc)

    def append_router(self, id: str, module: str, desc: dict[str, Any] | None = None) -> None:
        """TDP's helper (tdp_core 15+): a :data:`FASTAPI_ROUTER` extension."""
        self.append(FASTAPI_ROUTER, id, module, desc)


class Registry:
    """All plugins and their extensions; frozen once the app is built."""

    def __init__(self) -> None:
        self.plugins: dict[str, Plugin] = {}
        self._extensions: dict[str, dict[str, Extension]] = {t: {} for t in EXTENSION_TYPES}
        self.frozen = False

    # -- registration --------------------------------------------------------------------------

    def add(self, plugin: Plugin, type: str, id: str, module: str,
            desc: dict[str, Any] | None = None) -> None:
        """Add one extension of ``plugin`` (see :meth:`PluginRegistrar.append`)."""
        if self.frozen:
            raise RegistryError(f"plugin {plugin.name} registers {type} {id!r} after startup")
        canonical = ALIASES.get(type, type)
        if canonical not in EXTENSION_TYPES:  # kept (listable by its type), never served
            plugin.warnings.append(f"extension type {type!r} ({id}) is not served by core_server"
                                   + ("" if canonical in IGNORED_LEGACY_TYPES else
                                      f"; served types: {', '.join(sorted(EXTENSION_TYPES))}"))
        existing = self._extensions.setdefault(canonical, {}).get(id)
        if existing is not None:
            raise RegistryError(f"plugin {plugin.name} registers {canonical} {id!r}, which plugin "
                                f"{existing.plugin} registered already")
        if module.startswith("."):
            module = plugin.name + module
        ext = Extension(canonical, id, module, dict(desc or {}), plugin.name,
                        type if type != canonical else None)
        self._extensions[canonical][id] = ext
        plugin.extensions.append(ext)

    def withdraw(self, plugin: Plugin) -> None:
        """Remove every extension of a plugin that failed, so none of it half-loads."""
        for ext in plugin.extensions:
            if self._extensions[ext.type].get(ext.id) is ext:
                del self._extensions[ext.type][ext.id]
        plugin.extensions.clear()

    def freeze(self) -> None:
        """Refuse further registrations (called at the end of ``create_app``)."""
        self.frozen = True

    # -- queries -------------------------------------------------------------------------------

    def list(self, type: str | None = None) -> list[Extension]:
        """Extensions of ``type`` (aliases accepted) in registration order; when ``None``, all
        of the types core_server serves."""
        if type is None:
            return [e for t in EXTENSION_TYPES for e in self._extensions[t].values()]
        return list(self._extensions.get(ALIASES.get(type, type), {}).values())

    def get(self, type: str, id: str) -> Extension | None:
        """The extension ``id`` of ``type``, or ``None``."""
        return self._extensions.get(ALIASES.get(type, type), {}).get(id)

    def __iter__(self) -> Iterator[Extension]:
        return iter(self.list())

    @property
    def failed(self) -> builtins.list[Plugin]:
        """Plugins that recorded errors."""
        return [p for p in self.plugins.values() if p.errors]

    def record_failure(self, plugin_name: str, ext: Extension | None, exc: BaseException) -> None:
        """Record that using an extension failed (e.g. its ``create`` raised)."""
        plugin = self.plugins.get(plugin_name)
        what = f"{ext.type} {ext.id!r}: " if ext else ""
        if plugin is not None:
            plugin.errors.append(what + _describe(exc))


# --- visyn plugins at startup -----------------------------------------------------------------


def validate_settings(registry: Registry, config: Mapping[str, Any]) -> None:
    """Build each visyn plugin's ``setting_class`` over its merged config section.

    Called once the config layers are merged, before any extension is created; a section the
    model rejects fails the plugin (nothing of it is served).
    """
    for plugin in registry.plugins.values():
        model = plugin.settings_model
        if model is None or plugin.errors:
            continue
        section = config.get(plugin.name) or {}
        validate = getattr(model, "model_validate", None) or model.parse_obj
        try:
            plugin.settings = validate(section)
        except Exception as exc:  # a pydantic ValidationError names the fields
            plugin.errors.append(f"settings {model.__name__} of {plugin.name}: {exc}")
            registry.withdraw(plugin)


def init_plugin_apps(registry: Registry, app: Any) -> None:
    """Call each visyn plugin's ``init_app(app)`` inside an app context; failures are recorded."""
    for plugin in registry.plugins.values():
        init = getattr(plugin.instance, "init_app", None)
        if not callable(init) or plugin.errors:
            continue
        try:
            with app.app_context():
                init(app)
        except Exception as exc:  # the plugin is reported failed; the server still starts
            plugin.errors.append(f"init_app: {_describe(exc)}")


# --- discovery --------------------------------------------------------------------------------


@dataclass
class _Candidate:
    name: str
    path: str
    source: str
    version: str
    load: Callable[[], Any]
    config: Callable[[], Any] | None = None
    generation: str = "core_server"


def discover(plugins_dirs: Iterable[str | Path] = (), *, entry_points: bool = True) -> Registry:
    """Find plugins through entry points and plugin folders and let each register.

    A plugin found both ways (``pip install -e`` of a folder that is also in a plugins dir), or
    in two entry-point groups, is loaded once: the first found wins (entry points before
    folders, groups in the order of :data:`ENTRY_POINT_GROUPS`).
    """
    registry = Registry()
    candidates: dict[str, _Candidate] = {}
    for candidate in [*(_entry_point_candidates() if entry_points else []),
                      *_folder_candidates(plugins_dirs)]:
        candidates.setdefault(candidate.name, candidate)
    for candidate in sorted(candidates.values(), key=lambda c: c.name):
        _register(registry, candidate)
    return registry


def _entry_point_candidates() -> Iterator[_Candidate]:
    configs = {ep.name: ep for ep in importlib.metadata.entry_points(group=CONFIG_ENTRY_POINT_GROUP)}
    for group, generation in GENERATIONS.items():
        for ep in importlib.metadata.entry_points(group=group):
            dist = ep.dist
            version = dist.version if dist else "0.0.0"
            config_ep = configs.get(ep.name)
            yield _Candidate(ep.name, ep.value, f"entry-point:{group}", version, ep.load,
                             _config_loader(config_ep) if config_ep else None, generation)


def _config_loader(ep: importlib.metadata.EntryPoint) -> Callable[[], Any]:
    # phovea.config names a function returning a dict, the path of a config.json, or None
    return lambda: ep.load()()


def _folder_candidates(plugins_dirs: Iterable[str | Path]) -> Iterator[_Candidate]:
    for plugins_dir in plugins_dirs:
        root = Path(plugins_dir).resolve()
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir()):
            if (child / "__init__.py").is_file():  # the package itself lies in the plugins dir
                yield _folder_candidate(child.name, root, child)
            elif (child / child.name / "__init__.py").is_file():  # a project folder with its package
                yield _folder_candidate(child.name, child, child / child.name)


def _folder_candidate(name: str, import_root: Path, package: Path) -> _Candidate:
    def load() -> ModuleType:
        if str(import_root) not in sys.path:
            sys.path.insert(0, str(import_root))
        return importlib.import_module(name)

    return _Candidate(name, str(package), "plugins-dir", _folder_version(package), load)


def _folder_version(package: Path) -> str:
    for manifest in (package.parent / "package.json", package / "package.json"):
        try:
            return str(json.loads(manifest.read_text(encoding="utf-8")).get("version", "0.0.0"))
        except (OSError, ValueError):
            continue
    return "0.0.0"


def _register(registry: Registry, candidate: _Candidate) -> None:
    plugin = Plugin(candidate.name, candidate.path, candidate.source, candidate.version)
    registry.plugins[plugin.name] = plugin
    try:
        target = candidate.load()
        plugin.path = _plugin_path(target, candidate.path)
        register, plugin.generation, plugin.instance = _entry(target, candidate.generation)
        plugin.config = _plugin_config(target, candidate, plugin)
        register(PluginRegistrar(registry, plugin))
    except Exception as exc:  # a broken plugin must not stop the server: record and go on
        plugin.errors.append(_describe(exc))
        registry.withdraw(plugin)


def _plugin_path(target: Any, default: str) -> str:
    module = target if isinstance(target, ModuleType) else inspect.getmodule(target)
    file = getattr(module, "__file__", None)
    return str(Path(file).parent) if file else default


def _entry(target: Any, generation: str) -> tuple[Callable[[PluginRegistrar], Any], str, Any]:
    """The register function, the generation and (visyn) the plugin instance of ``target``."""
    if isinstance(target, type):  # visyn.plugin: a class extending AVisynPlugin
        instance = target()
        if not callable(getattr(instance, "register", None)):
            raise RegistryError(f"plugin class {target.__qualname__} has no register(self, "
                                "registry)")
        return instance.register, "visyn", instance
    if isinstance(target, ModuleType):
        for name, found in (("register", "core_server"), ("phovea", "phovea")):
            if callable(getattr(target, name, None)):
                return getattr(target, name), found, None
        visyn = _visyn_class(target)
        if visyn is not None:
            return _entry(visyn, "visyn")
        raise RegistryError(f"module {target.__name__} defines neither register(registry), "
                            f"phovea(registry) nor a {VISYN_CLASS} class")
    if callable(target):
        return target, generation, None
    raise RegistryError(f"entry point target {target!r} is not a module, function or class")


def _visyn_class(module: ModuleType) -> type | None:
    """A plugin folder of the visyn era: its package defines a class extending AVisynPlugin."""
    named = getattr(module, VISYN_CLASS, None)
    if isinstance(named, type):
        return named
    for value in vars(module).values():
        if (isinstance(value, type) and value.__module__ == module.__name__
                and not inspect.isabstract(value)
                and any(base.__name__ == "AVisynPlugin" for base in value.__mro__[1:])):
            return value
    return None


def _plugin_config(target: Any, candidate: _Candidate, plugin: Plugin) -> dict[str, Any]:
    """The plugin's config defaults: phovea.config, setting_class, phovea_config(), config.json."""
    if candidate.config is not None:
        return plugin_config.config_of(candidate.config(),
                                       f"the phovea.config entry point of {plugin.name}")
    if plugin.settings_model is not None:
        try:
            return plugin_config.model_defaults(plugin.settings_model)
        except plugin_config.PluginConfigError as exc:  # the config must give them all
            plugin.warnings.append(str(exc))
            return {}
    module = target if isinstance(target, ModuleType) else inspect.getmodule(target)
    if module is None:
        return {}
    if callable(getattr(module, "phovea_config", None)):
        return plugin_config.config_of(module.phovea_config(), f"{module.__name__}.phovea_config()")
    file = Path(getattr(module, "__file__", "") or "").parent / "config.json"
    return plugin_config.read_json(file) if file.is_file() else {}


def _describe(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"
