"""A phovea_server user store (the API of phovea_security_flask stores)."""
import phovea_server.security
from phovea_server.config import view


class DemoUser(phovea_server.security.User):
  def __init__(self, id, roles):
    super(DemoUser, self).__init__(id)
    self.name = id
    self.roles = roles

  @property
  def is_authenticated(self):
    return True

  @property
  def is_active(self):
    return True


class DemoStore(object):
  def __init__(self, users):
    self._users = {u['name']: u for u in users}

  def _user(self, name):
    entry = self._users.get(name)
    return DemoUser(name, list(entry['roles'])) if entry else None

  def load(self, id):
    return self._user(id)

  def load_from_key(self, api_key):
    name, _, password = str(api_key).partition(':')
    return self.login(name, dict(password=password))

  def login(self, username, extra_fields={}):
    entry = self._users.get(username)
    if entry and entry['password'] == extra_fields.get('password'):
      return self._user(username)
    return None

  def logout(self, user):
    return {'data': {'phovea_demo': 'bye ' + user.name}, 'cookies': []}


def create():
  return DemoStore(view('tdp_phovea_demo').get('users', []))
