"""Custom endpoints at ``/api/proxy/<route>``, and the ``namespace`` mounts.

``registry.append('endpoint', 'row', '.rows', {'route': 'rows/{table}/{row_id:int}',
'methods': ['GET', 'PUT'], 'security': {'roles': ['analyst']}})``: the module's ``create()``
returns ``fn(request, user, app)``. ``request`` is the Flask request with ``path_params`` (the
converted path parameters) and ``json`` (the parsed body of POST/PUT/PATCH/DELETE, None when
empty); the return value is sent as JSON (a DataFrame as a list of records, None as 204), or as
is when it is a Flask ``Response``; ``(value, status)`` and ``(value, status, headers)`` work too
(a tuple whose second item is not an HTTP status is sent as a JSON list).

Path parameter types: ``str`` (default), ``int``, ``float``, ``uuid`` and ``path`` (may contain
``/``). A value that does not match its declared type is a 400 ``invalid_value`` naming the
parameter (the route exists, the value is wrong), not a 404.
"""

from __future__ import annotations

import math
import re
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask import Response
from flask import current_app
from flask import request
from werkzeug.wrappers import Response as WerkzeugResponse

from core_server import security
from core_server.encoding import json_response
from core_server.errors import BadRequest
from core_server.namespaces import mount_namespaces
from core_server.openapi import error_responses
from core_server.openapi import json_content
from core_server.registry import ENDPOINT
from core_server.registry import Extension
from core_server.registry import RegistryError
from core_server.state import StateKey
from core_server.state import state_of

PREFIX = "/api/proxy/"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PARAM = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LITERAL = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@%/-]*\Z")
_INT = re.compile(r"-?[0-9]+\Z")
_FLOAT = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\Z")


def _to_int(value: str) -> int:
    if not _INT.match(value):
        raise ValueError(value)
    return int(value)


def _to_float(value: str) -> float:
    if not _FLOAT.match(value) or not math.isfinite(float(value)):
        raise ValueError(value)
    return float(value)


#: Path parameter types: converter and OpenAPI schema.
PARAM_TYPES: dict[str, tuple[Callable[[str], Any], dict[str, Any]]] = {
    "str": (str, {"type": "string"}),
    "int": (_to_int, {"type": "integer"}),
    "float": (_to_float, {"type": "number"}),
    "uuid": (uuid.UUID, {"type": "string", "format": "uuid"}),
    "path": (str, {"type": "string"}),
}


def _rewrite(template: str, replace: Callable[[str], str]) -> str:
    return _PARAM.sub(lambda match: replace(match.group(1).partition(":")[0]), template)


@dataclass(frozen=True)
class RouteTemplate:
    """A parsed ``desc['route']`` such as ``rows/{table}/{row_id:int}``."""

    template: str
    params: dict[str, str]  # name -> type, in order
    rule: str  # the werkzeug rule below /api/proxy/
    shape: str  # the route with parameter names erased, to find conflicts
    openapi_path: str

    @classmethod
    def parse(cls, route: Any) -> RouteTemplate:
        """Parse ``route``; :class:`RegistryError` says what is wrong with it."""
        if not isinstance(route, str) or not route.strip("/"):
            raise RegistryError(f"endpoint route must be a non-empty string, got {route!r}")
        template = route.strip("/")
        params: dict[str, str] = {}
        for match in _PARAM.finditer(template):
            name, _, kind = match.group(1).partition(":")
            kind = kind or "str"
            if not _NAME.match(name) or name in params:
                raise RegistryError(f"route {route!r}: bad or repeated parameter name {name!r}")
            if kind not in PARAM_TYPES:
                raise RegistryError(f"route {route!r}: parameter {name!r} has unknown type "
                                    f"{kind!r}; known: {', '.join(PARAM_TYPES)}")
            params[name] = kind
        if not _LITERAL.match(_PARAM.sub("", template)) or "//" in template:
            raise RegistryError(f"route {route!r} contains characters that are not allowed in a "
                                "path (or an unbalanced brace)")
        is_path = {name: kind == "path" for name, kind in params.items()}
        return cls(
            template, params,
            rule=_rewrite(template, lambda n: f"<path:{n}>" if is_path[n] else f"<{n}>"),
            shape=_rewrite(template, lambda n: "{path}" if is_path[n] else "{}"),
            openapi_path=PREFIX + _rewrite(template, lambda n: "{" + n + "}"))

    def convert(self, raw: dict[str, str]) -> dict[str, Any]:
        """The path parameters converted to their declared types (400 ``invalid_value``)."""
        values: dict[str, Any] = {}
        for name, kind in self.params.items():
            try:
                values[name] = PARAM_TYPES[kind][0](raw[name])
            except ValueError:
                raise BadRequest("invalid_value", f"path parameter {name!r} must be of type "
                                 f"{kind}, got {raw[name]!r}",
                                 hint=f"route: {PREFIX}{self.template}") from None
        return values


@dataclass
class ProxyEndpoint:
    """One loaded ``endpoint`` extension."""

    ext: Extension
    route: RouteTemplate
    methods: tuple[str, ...]
    fn: Callable[..., Any]

    @property
    def rule(self) -> security.Rule:
        """The endpoint's own access rule (``desc['security']``)."""
        return self.ext.desc.get("security")


class EndpointRequest:
    """The Flask request plus ``path_params`` and the parsed ``json`` body.

    Atoti's names ``path_parameters`` and ``body`` work too; everything else is the Flask
    request's (``args``, ``headers``, ``method``...).
    """

    def __init__(self, flask_request: Any, path_params: dict[str, Any], body: Any) -> None:
        self._request = flask_request
        self.path_params = path_params
        self.json = body

    @property
    def path_parameters(self) -> dict[str, Any]:
        """Alias of :attr:`path_params`."""
        return self.path_params

    @property
    def body(self) -> Any:
        """Alias of :attr:`json`."""
        return self.json

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)


def to_response(value: Any) -> Response:
    """Turn what an endpoint returned into a response (see the module docs)."""
    if isinstance(value, WerkzeugResponse):
        return value  # type: ignore[return-value]
    if isinstance(value, tuple) and 2 <= len(value) <= 3 and isinstance(value[1], int) \
            and 100 <= value[1] <= 599:
        response = to_response(value[0])
        response.status_code = value[1]
        response.headers.update(value[2] if len(value) == 3 else {})
        return response
    if value is None:
        return Response(status=204)
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, pandas.DataFrame):
        value = value.to_dict("records")
    elif pandas is not None and isinstance(value, pandas.Series):
        value = value.to_dict()
    return json_response(value)


def _serve(endpoint: ProxyEndpoint, **raw: str) -> Response:
    user = security.check(f"endpoint:{endpoint.ext.id}", "execute", endpoint.rule)
    params = endpoint.route.convert(raw)
    body = request.json_body() if request.method in BODY_METHODS else None  # type: ignore[attr-defined]
    wrapped = EndpointRequest(request._get_current_object(), params, body)  # type: ignore[attr-defined]
    return to_response(endpoint.fn(wrapped, user, current_app._get_current_object()))  # type: ignore[attr-defined]


def _load(ext: Extension) -> ProxyEndpoint:
    route = RouteTemplate.parse(ext.desc.get("route"))
    methods = ext.desc.get("methods") or ["GET"]
    methods = [methods] if isinstance(methods, str) else methods
    upper = tuple(dict.fromkeys(str(m).upper() for m in methods))
    unknown = [m for m in upper if m not in METHODS]
    if unknown:
        raise RegistryError(f"unsupported methods {unknown}; use {', '.join(METHODS)}")
    fn = ext.create()
    if not callable(fn):
        raise RegistryError(f"create() returned {type(fn).__name__}, expected "
                            "a function fn(request, user, app)")
    return ProxyEndpoint(ext, route, upper, fn)


def _conflict(endpoint: ProxyEndpoint, loaded: list[ProxyEndpoint]) -> str | None:
    for other in loaded:
        shared = set(endpoint.methods) & set(other.methods)
        if other.route.shape == endpoint.route.shape and shared:
            return (f"route {PREFIX}{endpoint.route.template} ({', '.join(sorted(shared))}) of "
                    f"plugin {endpoint.ext.plugin} conflicts with endpoint {other.ext.id!r} "
                    f"of plugin {other.ext.plugin} ({PREFIX}{other.route.template})")
    return None


def mount_endpoints(app: Flask) -> dict[str, ProxyEndpoint]:
    """Serve every ``endpoint`` extension; broken or conflicting ones are recorded, not served."""
    registry = state_of(app).registry
    loaded: list[ProxyEndpoint] = []
    for ext in registry.list(ENDPOINT):
        try:
            endpoint = _load(ext)
            conflict = _conflict(endpoint, loaded)
            if conflict:
                raise RegistryError(conflict)
        except Exception as exc:  # a failing endpoint is reported, the server still starts
            registry.record_failure(ext.plugin, ext, exc)
            continue
        loaded.append(endpoint)
        app.add_url_rule(PREFIX + endpoint.route.rule, endpoint=f"proxy:{ext.id}",
                         view_func=_view(endpoint), methods=list(endpoint.methods))
    return {e.ext.id: e for e in loaded}


def _view(endpoint: ProxyEndpoint) -> Callable[..., Response]:
    def view(**raw: str) -> Response:
        return _serve(endpoint, **raw)

    return view


def openapi_fragment(endpoints: dict[str, ProxyEndpoint]) -> dict[str, Any]:
    """OpenAPI paths of the custom endpoints."""
    paths: dict[str, Any] = {}
    for endpoint in endpoints.values():
        params = [{"name": name, "in": "path", "required": True,
                   "schema": PARAM_TYPES[kind][1]} for name, kind in endpoint.route.params.items()]
        item = paths.setdefault(endpoint.route.openapi_path, {})
        for method in endpoint.methods:
            op: dict[str, Any] = {
                "summary": endpoint.ext.desc.get("description") or f"endpoint {endpoint.ext.id}",
                "operationId": f"endpoint_{endpoint.ext.id}_{method.lower()}",
                "tags": ["endpoints"], "parameters": params,
                "responses": {"200": {"description": "the endpoint's JSON answer",
                                      "content": json_content({})},
                              "204": {"description": "the endpoint returned nothing"},
                              **error_responses(400, 401, 403, 500)}}
            if method in BODY_METHODS:
                # an endpoint may describe its body (desc "body": a JSON Schema)
                op["requestBody"] = {"required": False, "content": json_content(
                    endpoint.ext.desc.get("body") or {})}
            item[method.lower()] = op
    return {"paths": paths, "tags": [{"name": "endpoints"}] if paths else []}


#: The served endpoints by id (``state.endpoints``).
ENDPOINTS: StateKey[dict[str, ProxyEndpoint]] = StateKey("endpoints")


def init_app(app: Flask) -> None:
    """Mount the namespace and endpoint extensions."""
    state = state_of(app)
    # Factories may read current_app (e.g. their config) while they build the route.
    with app.app_context():
        mount_namespaces(app)
        mounted = mount_endpoints(app)
    state.put(ENDPOINTS, mounted)
    state.openapi.append(lambda: openapi_fragment(mounted))
