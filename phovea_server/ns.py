"""``phovea_server.ns``: what Phovea-era namespace modules import (Flask, plus two decorators)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Flask as Namespace
from flask import Response
from flask import abort
from flask import jsonify
from flask import make_response
from flask import render_template_string
from flask import request
from flask import send_file
from flask import send_from_directory

__all__ = ["Namespace", "Response", "abort", "cache_control", "jsonify", "make_response",
           "no_cache", "render_template_string", "request", "send_file", "send_from_directory"]


def cache_control(*directives: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Set ``Cache-Control`` to ``directives`` on the decorated view's responses."""

    def decorator(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            response = make_response(f(*args, **kwargs))
            response.headers["Cache-Control"] = ", ".join(directives)
            return response

        return wrapped

    return decorator


def no_cache(f: Callable[..., Any]) -> Callable[..., Any]:
    """Responses of the decorated view are never cached."""
    return cache_control("private", "no-cache", "no-store", "max-age=0")(f)
