from pydantic import BaseModel
from tdp_core.plugin.model import AVisynPlugin, RegHelper

from .settings import VisynDemoSettings


class VisynPlugin(AVisynPlugin):
    started = False

    def init_app(self, app):
        VisynPlugin.started = True

    def register(self, registry: RegHelper):
        registry.append("tdp-sql-database-definition", "visyn_demo", "tdp_visyn_demo.sql", {"configKey": "tdp_visyn_demo"})
        registry.append("namespace", "visyn_demo_api", "tdp_visyn_demo.api", {"namespace": "/api/visyn_demo"})
        registry.append("user_stores", "visyn_demo_store", "tdp_visyn_demo.store", {})
        # not served by core_server: warnings, never a load failure
        registry.append_router("visyn_demo_router", "tdp_visyn_demo.api", {})
        registry.append("tdp-config-safe-keys", "visyn_demo", "", {"configKey": "tdp_visyn_demo.greeting"})

    @property
    def setting_class(self) -> type[BaseModel]:
        return VisynDemoSettings
