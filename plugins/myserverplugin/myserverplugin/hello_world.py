"""The hello_world namespace: a blueprint served at /api/hello_world."""

from flask import Blueprint
from flask import jsonify
from flask import request


def create():
    """Build the namespace blueprint."""
    app = Blueprint('hello_world', __name__)

    @app.get('/', strict_slashes=False)
    def hello_world():
        name = request.args.get('name', 'World')
        return jsonify({'message': f'Hello {name}!'})

    return app
