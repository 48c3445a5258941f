"""Compatibility package: lets Phovea/TDP plugins import ``phovea_server.*`` on core_server."""
