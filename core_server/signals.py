"""Signals that lower layers send and observers (metrics, tracing) receive (blinker, as Flask's).

Senders do not know who listens; with no receiver a send costs one dict lookup.

``engine_created``
   sender: the engine's name (a base connector id, ``"store"``); ``engine=``: the SQLAlchemy
   Engine, just created (before its first connection).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

engine_created = _signals.signal("engine-created")

__all__ = ["engine_created"]
