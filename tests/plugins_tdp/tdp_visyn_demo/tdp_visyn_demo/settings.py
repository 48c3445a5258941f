from pydantic import BaseModel
from tdp_core import manager


class StoreUser(BaseModel):
    name: str
    password: str
    roles: list[str] = []


class VisynDemoSettings(BaseModel):
    dburl: str = "sqlite:///./tdp_visyn_demo.sqlite"
    statement_timeout: str = "'5min'"
    statement_timeout_query: str = "set statement_timeout to {}"
    engine: dict = {"pool_pre_ping": True}
    greeting: str = "hello"
    max_items: int = 10
    users: list[StoreUser] = [StoreUser(name="vera", password="vera-secret", roles=["visyn_demo_reader"])]


def get_settings() -> VisynDemoSettings:
    return manager.settings.tdp_visyn_demo
