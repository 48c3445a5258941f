from tdp_core.security.model import User
from tdp_core.security.store.base_store import BaseStore

from .settings import get_settings


class DemoUser(User):
    password: str

    def is_password(self, given):
        return given == self.password


class DemoStore(BaseStore):
    def __init__(self):
        self._users = [DemoUser(id=u.name, roles=u.roles, password=u.password) for u in get_settings().users]

    def load_from_key(self, api_key: str):
        name, _, password = api_key.partition(":")
        return self.login(name, {"password": password})

    def login(self, username, extra_fields=None):
        extra_fields = extra_fields or {}
        return next((u for u in self._users if u.id == username and u.is_password(extra_fields.get("password"))), None)

    def logout(self, user):
        return None


def create():
    return DemoStore()
