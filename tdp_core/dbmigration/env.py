"""``tdp_core.dbmigration.env`` for a TDP plugin's ``migration/env.py``.

The published shape works unchanged::

    import tdp_core.dbmigration.env
    tdp_core.dbmigration.env.run_migrations_online()
"""

from core_server.tdp import run_migrations_online

__all__ = ["run_migrations_online"]
