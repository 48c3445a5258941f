"""A ``tdp-sql-database-extension``: its own connector id, sharing the engine of ``mydb``."""
from tdp_core.dbview import DBViewBuilder, DBConnector

views = dict()

views['mytable_categories'] = DBViewBuilder().idtype('MyCategory') \
    .query("""SELECT cat as id, count(*) AS n, avg(value) AS mean FROM mytable GROUP BY cat ORDER BY cat""") \
    .column('n', type='number').column('mean', type='number') \
    .description('rows and mean value per category of mytable') \
    .build()


def create():
    """Build the extension connector (dburl and timeout come from the base connector)."""
    connector = DBConnector(views)
    connector.description = 'extra views on the mydb database'
    return connector
