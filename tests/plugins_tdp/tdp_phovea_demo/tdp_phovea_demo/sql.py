from phovea_server.config import view
from tdp_core.dbview import DBViewBuilder, DBConnector, add_common_queries, inject_where

cc = view('tdp_phovea_demo')

idtype = 'PhoveaDemoID'
columns = ['name', 'kind', 'size']

views = dict()
views['item'] = DBViewBuilder().idtype(idtype).table('phovea_item') \
  .query("""SELECT id, name, kind, size FROM phovea_item""") \
  .derive_columns() \
  .column('kind', type='categorical') \
  .assign_ids() \
  .call(inject_where) \
  .build()
views['item_by_kind'] = DBViewBuilder().idtype(idtype) \
  .query("""SELECT id, name FROM phovea_item WHERE kind = :kind
            ORDER BY id""") \
  .arg('kind') \
  .build()

add_common_queries(views, 'phovea_item', idtype, 'id', columns)


def create():
  connector = DBConnector(views)
  connector.description = 'phovea-era demo connector (' + str(cc.get('statement_timeout')) + ')'
  return connector
