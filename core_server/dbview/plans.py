"""Request plans: what validating a view request yields, cached per view and request shape.

Most requests of a view differ only in their values (``filter_my_id=1`` vs ``=2``), and
everything but the values follows from the *shape*: which keys came with how many values, plus
the values that go into the SQL text (options such as ``_sort``/``_limit``/``_offset``,
replacements). For a shape seen before, the plan replays the validation per request: the
arguments are read as always, each filter value is converted (the same 400s) and bound under
the name it got the first time; which keys are filters, their clauses, the replacements and the
SQL text (memoised per plan) are reused. Values stay bound parameters; nothing of a request's
values ever enters a cached text.

Not planned (validated in full every time): callback views, views with ``{agg_score}`` (the
aggregation is a replacement read from several keys), and named-set or ``rangeOf`` filters
(their ids are looked up per request). A plan is only made from a request that validated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from core_server.dbview import filters
from core_server.dbview import params
from core_server.dbview.builder import DBView
from core_server.dbview.params import Options
from core_server.dbview.params import Parsed
from core_server.dbview.params import ViewRequest
from core_server.dbview.service import ConnectorEntry
from core_server.dbview.service import DBViews
from core_server.values import Values

#: plans kept per app; past it the cache starts over (a shape costs one full validation)
PLAN_LIMIT = 2048


@dataclass(frozen=True)
class Plan:
    """The value-independent part of a validated request (see the module docstring)."""

    view: DBView
    columns: Mapping[str, dict[str, Any]]
    options: Options
    replacements: dict[str, str]
    steps: tuple[filters.Step, ...]
    expanding: frozenset[str]
    result: tuple[str, ...]
    ignored: tuple[str, ...]
    open_keys: tuple[str, ...]
    memo: dict[Any, Any] = field(default_factory=dict)


def view_request(dbv: DBViews, entry: ConnectorEntry, view: DBView, name: str, values: Values,
                 columns: Mapping[str, dict[str, Any]], fmt: str | None = None,
                 lenient: bool = False) -> ViewRequest:
    """:func:`core_server.dbview.params.view_request`, replayed from a plan when one fits."""
    key = _shape(entry, view, name, values, fmt, lenient)
    if key is None:
        return params.view_request(dbv, entry, view, name, values, columns, fmt, lenient)
    plans: dict[Any, Plan] = dbv.plans
    plan = plans.get(key)
    if plan is not None and plan.view is view and plan.columns is columns:
        return _replay(plan, entry, name, values)
    req = params.view_request(dbv, entry, view, name, values, columns, fmt, lenient)
    if len(plans) >= PLAN_LIMIT:
        plans.clear()
    plan = plans[key] = _record(req)
    req.memo = plan.memo
    return req


def _shape(entry: ConnectorEntry, view: DBView, name: str, values: Values, fmt: str | None,
           lenient: bool) -> tuple[Any, ...] | None:
    if view.is_callback or "agg_score" in view.replacements or "{agg_score}" in str(view.query):
        return None
    arguments = view.arguments
    parts: list[Any] = [id(view), entry.name, name, fmt, lenient]
    for key, items in values.items():
        if key.startswith("filter_"):
            if filters.is_special(key[:-2] if key.endswith("[]") else key):
                return None
            parts.append((key, len(items)))
        elif key in arguments or key.endswith("[]") and key[:-2] in arguments:
            parts.append((key, None))  # read per request
        else:  # options, replacements and anything else: part of the SQL text or ignored
            parts.append((key, tuple(items)))
    try:
        hash(tuple(parts))
    except TypeError:  # a JSON body value that is not text (a list in a list)
        return None
    return tuple(parts)


def _record(req: ViewRequest) -> Plan:
    parsed = req.parsed
    return Plan(req.view, req.columns, _copy_options(req.options), dict(parsed.replacements),
                tuple(parsed.steps), frozenset(parsed.expanding), tuple(parsed.result),
                tuple(parsed.ignored), tuple(parsed.open_keys))


def _replay(plan: Plan, entry: ConnectorEntry, name: str, values: Values) -> ViewRequest:
    view = plan.view
    parsed = Parsed()
    if view.arguments:
        params.parse_arguments(view, values, parsed)
    if plan.steps:
        found = filters.collect(values, None)
        binds = parsed.binds
        converted_by_key = parsed.filters
        for step in plan.steps:
            converted = filters.convert(step.key, step.numeric, found[step.key])
            converted_by_key.setdefault(step.key, []).extend(converted)
            if step.bind is not None:
                binds[step.bind] = converted if step.many else converted[0]
        parsed.steps = list(plan.steps)
    parsed.replacements = dict(plan.replacements)
    parsed.expanding = set(plan.expanding)
    parsed.result = list(plan.result)
    parsed.ignored = list(plan.ignored)
    parsed.open_keys = list(plan.open_keys)
    return ViewRequest(entry, view, f"{entry.name}/{name}", values, plan.columns,
                       _copy_options(plan.options), parsed, plan.memo)


def _copy_options(options: Options) -> Options:
    # what copy() gives (a shallow copy), without its __reduce_ex__ round on every request
    return Options(**vars(options))
