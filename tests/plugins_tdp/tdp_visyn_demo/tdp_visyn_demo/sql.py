from tdp_core.dbview import DBConnector, DBViewBuilder, inject_where

views = dict(
    visyn_item=DBViewBuilder()
    .idtype("VisynDemoID")
    .table("visyn_item")
    .query("SELECT id, label, score FROM visyn_item")
    .derive_columns()
    .call(inject_where)
    .build(),
)


def create():
    connector = DBConnector(views)
    connector.description = "visyn-era demo connector"
    return connector
