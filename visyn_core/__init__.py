"""Compatibility package: lets visyn plugins (tdp_core 18+ split into visyn_core) import
``visyn_core.*`` on core_server. Every module re-exports its ``tdp_core`` twin."""
