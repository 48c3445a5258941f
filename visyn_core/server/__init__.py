"""``visyn_core.server``: re-exports of :mod:`tdp_core.server`."""
