"""``tdp_core.server``: building the server the way visyn-era plugin tests do."""
