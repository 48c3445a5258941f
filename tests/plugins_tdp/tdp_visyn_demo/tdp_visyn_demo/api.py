from flask import Flask, jsonify

from .settings import get_settings

app = Flask(__name__)


@app.route("/greeting")
def greeting():
    settings = get_settings()
    from . import VisynPlugin

    return jsonify(greeting=settings.greeting, max_items=settings.max_items, type=type(settings).__name__,
                   started=VisynPlugin.started)


def create():
    return app
