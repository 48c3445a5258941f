"""Sphinx configuration of the core_server documentation (``make docs``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "core_server"
author = "core_server developers"
copyright = "core_server developers"  # noqa: A001 (Sphinx's name)
extensions = ["core_server_docs"]
html_theme = "alabaster"
exclude_patterns = ["_build"]
nitpicky = True
smartquotes = False  # the docs quote code: keep quotes as typed
