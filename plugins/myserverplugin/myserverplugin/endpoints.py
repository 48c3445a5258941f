"""Custom endpoints of the tutorial plugin (served under /api/proxy/).

- ``GET planets``: the planets, ``?min_moons=N`` to filter;
- ``GET planets/{planet_id:int}``: one planet (a non-integer id is a 400 of core_server);
- ``GET|POST greet/{name}``: a greeting in ``?lang=`` (GET) or ``{"lang": ...}`` (POST, needs a
  login on a default server); greetings come from the config key ``myserverplugin.greetings``;
- ``GET whoami``: the caller's name and roles (``'security': 'authenticated'``).
"""

from core_server.errors import BadRequest
from core_server.errors import NotFound
from core_server.values import get_int
from core_server.values import get_text

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
        # core_server.values reads typed values as every core route does: 400 invalid_value
        # naming the parameter for '²', -1, 10**30 or a repeated min_moons
        min_moons = get_int(request.args.to_dict(flat=False), 'min_moons', 0, minimum=0)
        return [p for p in PLANETS if p['moons'] >= min_moons]
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
        if request.method == 'POST':
            # no body is {}; [1], "x", 3 or null are JSON too, but not an object
            options = request.json if request.get_data() else {}
            if not isinstance(options, dict):
                raise BadRequest('invalid_body', 'the body must be a JSON object: {"lang": "de"}')
            lang = options.get('lang', 'en')
        else:
            lang = get_text(request.args.to_dict(flat=False), 'lang', 'en')
        if not isinstance(lang, str) or lang not in greetings:
            raise BadRequest('invalid_value', f'no greeting in {lang!r}',
                             hint='languages: ' + ', '.join(sorted(greetings)))
        return {'message': f"{greetings[lang]} {request.path_params['name']}!", 'by': user.name}
    return greet


def create_whoami():
    """``GET whoami``."""
    return lambda request, user, app: {'name': user.name, 'roles': sorted(user.roles)}
