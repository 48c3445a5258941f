"""The hello_world namespace: a blueprint served at /api/hello_world."""

from flask import Blueprint
from flask import jsonify
from flask import request


def create():
    """Build the namespace blueprint."""
    app = Blueprint('hello_world', __name__)

    # both spellings as explicit rules (strict_slashes=False would answer other methods with a
    # 404 instead of a 405 with Allow)
    @app.get('')
    @app.get('/')
    def hello_world():
        name = request.args.get('name', 'World')
        return jsonify({'message': f'Hello {name}!'})

    return app
