"""Who is asking and what they may do: users, roles, access rules, logins and API tokens.

THE function to guard a resource is :func:`check` (``security.check("db:mydb/mytable", "read",
rule=view.security)``); :func:`can` answers the same question without raising.
:func:`init_app` resolves the ``core_server.security`` settings once and installs the
authentication hook (session cookie, Bearer token, CSRF) and ``/api/login``, ``logout``,
``loggedinas`` and ``tokens``.

Resource names: ``db:<connector>/<view>``, ``store:<collection>``, ``store:<collection>.<field>``,
``endpoint:<id>`` and ``server:config`` / ``server:plugins``. Actions: ``read``, ``create``,
``update``, ``delete``, ``execute`` (``write`` in a rule stands for create, update and delete).

The modules behind this face are private: ``_users`` (:class:`User`, user stores), ``_rules``
(the rule language, config rules), ``_tokens`` (API tokens), ``_state`` (``state.security``),
``_access`` (the decision), ``_auth`` (the per-request hook, CSRF), ``_routes`` and ``_setup``.
"""

from core_server.security._access import can
from core_server.security._access import check
from core_server.security._access import denied
from core_server.security._access import secured
from core_server.security._auth import authenticate
from core_server.security._rules import Rule
from core_server.security._rules import allowed
from core_server.security._setup import init_app
from core_server.security._state import SecurityState
from core_server.security._users import ADMIN_ROLE
from core_server.security._users import ANONYMOUS
from core_server.security._users import User
from core_server.security._users import current_user
from core_server.security._users import hash_password
from core_server.security._users import user_from

__all__ = [
    "ADMIN_ROLE",
    "ANONYMOUS",
    "Rule",
    "SecurityState",
    "User",
    "allowed",
    "authenticate",
    "can",
    "check",
    "current_user",
    "denied",
    "hash_password",
    "init_app",
    "secured",
    "user_from",
]
