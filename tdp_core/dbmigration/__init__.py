"""``tdp_core.dbmigration`` for TDP plugins: their alembic ``env.py`` imports ``.env`` from here."""
