"""The body of a plugin's alembic ``env.py`` (TDP plugins reach it as ``tdp_core.dbmigration.env``).

A published TDP plugin's ``migration/env.py`` is::

    import tdp_core.dbmigration.env
    tdp_core.dbmigration.env.run_migrations_online()

:func:`run_migrations_online` runs the revisions on the connection that
:class:`~core_server.tdp.migrations.Migrations` opened (bounded, locked), with TDP's version table
``<migration id>_alembic_version``. Run by the ``alembic`` command itself (no connection given),
it connects to ``sqlalchemy.url`` as TDP's template does. Nothing happens at import: alembic's
context exists only while a command runs.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context
from sqlalchemy.pool import NullPool


def _options(config: Any) -> dict[str, Any]:
    migration_id = config.get_main_option("migration_id")
    if not migration_id:
        raise ValueError("the alembic config has no migration_id (run migrations with "
                         "core-server db ...)")
    options: dict[str, Any] = {"version_table": f"{migration_id}_alembic_version",
                               "include_schemas": True, "target_metadata": None}
    schema = config.get_main_option("version_table_schema")
    if schema:
        options["version_table_schema"] = schema
    return options


def run_migrations_online(target_metadata: Any = None) -> None:
    """Run the pending revisions of the current alembic command online.

    :param target_metadata: the plugin's ``MetaData``, for alembic's autogenerate.
    """
    config = context.config
    options = {**_options(config), "target_metadata": target_metadata}
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise ValueError("the alembic config has neither a connection nor sqlalchemy.url")
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            context.configure(connection=conn, **options)
            with context.begin_transaction():
                context.run_migrations()
            if conn.in_transaction():
                conn.commit()
    finally:
        engine.dispose()
