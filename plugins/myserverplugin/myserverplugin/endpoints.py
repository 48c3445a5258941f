"""Custom endpoints of the tutorial plugin (served under /api/proxy/).

- ``GET planets``: the planets, ``?min_moons=N`` to filter;
- ``GET planets/{planet_id:int}``: one planet (a non-integer id is a 400 of core_server);
- ``GET|POST greet/{name}``: a greeting in ``?lang=`` (GET) or ``{"lang": ...}`` (POST, needs a
  login on a default server); greetings come from the config key ``myserverplugin.greetings``;
- ``GET whoami``: the caller's name and roles (``'security': 'authenticated'``).
"""

from core_server.errors import BadRequest
from core_server.errors import NotFound

PLANETS = [
    {'id': 1, 'name': 'Mercury', 'moons': 0, 'radius_km': 2440},
    {'id': 2, 'name': 'Venus', 'moons': 0, 'radius_km': 6052},
    {'id': 3, 'name': 'Earth', 'moons': 1, 'radius_km': 6371},
    {'id': 4, 'name': 'Mars', 'moons': 2, 'radius_km': 3390},
    {'id': 5, 'name': 'Jupiter', 'moons': 95, 'radius_km': 69911},
    {'id': 6, 'name': 'Saturn', 'moons': 146, 'radius_km': 58232},
    {'id': 7, 'name': 'Uranus', 'moons': 28, 'radius_km': 25362},
    {'id': 8, 'name': 'Neptune', 'moons': 16, 'radius_km': 24622},
]

GREETINGS = {'en': 'Hello', 'de': 'Hallo', 'fr': 'Bonjour', 'it': 'Ciao'}


def create_list():
    """``GET planets[?min_moons=N]``."""
    def planets(request, user, app):
        raw = request.args.get('min_moons', '0')
        if not raw.isdigit():
            raise BadRequest('invalid_value', f'min_moons must be a whole number, got {raw!r}')
        return [p for p in PLANETS if p['moons'] >= int(raw)]
    return planets


def create_one():
    """``GET planets/{planet_id:int}``."""
    def planet(request, user, app):
        planet_id = request.path_params['planet_id']
        for p in PLANETS:
            if p['id'] == planet_id:
                return p
        raise NotFound(f'no planet {planet_id}', hint='ids are 1 to 8')
    return planet


def create():
    """``GET|POST greet/{name}``."""
    def greet(request, user, app):
        greetings = app.extensions['core_server'].config.get_path('myserverplugin.greetings') \
            or GREETINGS
        options = request.json if request.method == 'POST' else request.args
        lang = (options or {}).get('lang', 'en')
        if lang not in greetings:
            raise BadRequest('invalid_value', f'no greeting in {lang!r}',
                             hint='languages: ' + ', '.join(sorted(greetings)))
        return {'message': f"{greetings[lang]} {request.path_params['name']}!", 'by': user.name}
    return greet


def create_whoami():
    """``GET whoami``."""
    return lambda request, user, app: {'name': user.name, 'roles': sorted(user.roles)}
