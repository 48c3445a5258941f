"""Compatibility package: lets Caleydo TDP plugins import ``tdp_core.*`` on core_server."""
