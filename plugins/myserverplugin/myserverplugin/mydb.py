"""The tutorial's mydb connector (seed 000), unchanged apart from ``mytable.*``.

``SELECT my_id as id, * FROM mytable`` of the tutorial is not valid on MariaDB/MySQL, which only
accept a bare ``*`` first; ``mytable.*`` gives the same rows on SQLite, PostgreSQL and MariaDB.
"""
from tdp_core.dbview import DBViewBuilder, DBConnector, DBMapping, add_common_queries, inject_where

# idtype of our rows
idtype = 'MyIDType'
# columns of our mytable, it is used to verify dynamic parameters
columns = ['name', 'cat', 'value']

# main dictionary containing all views registered for this plugin
views = dict()

# register the view for getting the mytable itself
views['mytable'] = DBViewBuilder().idtype(idtype).table('mytable') \
    .query("""SELECT my_id as id, mytable.* FROM mytable""") \
    .derive_columns() \
    .column('cat', type='categorical') \
    .assign_ids() \
    .call(inject_where) \
    .build()

# notes:
# by convention the 'id' column contains the identifier column of a row
# derive_columns ... try to automatically derive column and column types
# column(column, attrs) ... explicitly set a column type
# assign_ids ... the tdp server should automatically manage and assign unique integer ids based on the 'id' column
# .call(inject_where) ... utility to inject a where clause that is used for dynamic filtering

# a score per row of mytable for one id of the other id type (the 'a' ids of tdp_dummy)
views['mytable_single_score'] = DBViewBuilder('score').idtype(idtype) \
    .query("""SELECT my_id as id, {attribute} AS score FROM mytable_scores WHERE a_id = :name""") \
    .description('the score of each mytable row for one a id', summary='single score') \
    .arg('name', type=int, description='the a id', example=1) \
    .replace('attribute', ['value']) \
    .column('score', type='number', min=0, max=100) \
    .assign_ids() \
    .build()

# create a set of common queries
add_common_queries(views, 'mytable', idtype, 'my_id as id', columns)


def custom_callback(engine, arguments, filters):
    """
    custom query implementation
    :param engine: the SQLAlchemy engine
    :param arguments: a dictionary of valid arguments
    :param filters: a dictionary of valid filter key:value[] entries
    :return: an array of dictionaries
    """
    import pandas as pd
    data = pd.read_sql("""SELECT cat, value FROM mytable""", engine)
    grouped = data.groupby('cat').sum()
    return grouped.to_dict('records')


views['callback'] = DBViewBuilder() \
    .callback(custom_callback) \
    .build()


# -- a second id type and scores between the two (core_server id types issue) -----------------
# the a table of tdp_dummy: mytable_scores pairs mytable rows with a ids
idtype_a = 'IDTypeA'

views['a'] = DBViewBuilder().idtype(idtype_a).table('a') \
    .query("""SELECT a_id as id, a.* FROM a""") \
    .derive_columns() \
    .column('a_cat', type='categorical') \
    .assign_ids() \
    .call(inject_where) \
    .build()

# {agg_score} is the connector's agg_score below: agg in min/max/avg over s.<data_subtype>
views['mytable_score'] = DBViewBuilder('score').idtype(idtype) \
    .query("""SELECT s.my_id as id, {agg_score} AS score FROM mytable_scores s {where}
              GROUP BY s.my_id ORDER BY s.my_id""") \
    .description('per mytable row: min/max/avg of its scores over the a ids in filter_a_id '
                 '(default: all a ids)', summary='aggregated score per mytable row') \
    .replace('agg', ['min', 'max', 'avg']) \
    .replace('data_subtype', ['value']) \
    .filter('a_id', table='s') \
    .column('score', type='number', min=0, max=100) \
    .build()

views['a_score'] = DBViewBuilder('score').idtype(idtype_a) \
    .query("""SELECT s.a_id as id, {agg_score} AS score FROM mytable_scores s
              INNER JOIN mytable m ON m.my_id = s.my_id {where}
              GROUP BY s.a_id ORDER BY s.a_id""") \
    .description('per a id: min/max/avg of its scores over the mytable rows (filter_cat narrows '
                 'them)', summary='aggregated score per a id') \
    .replace('agg', ['min', 'max', 'avg']) \
    .replace('data_subtype', ['value']) \
    .filter('cat', table='m') \
    .column('score', type='number', min=0, max=100) \
    .build()

agg_score = DBViewBuilder().query('{agg}(s.{data_subtype})') \
    .replace('agg', ['min', 'max', 'avg']) \
    .replace('data_subtype', ['value']) \
    .build()

# id mappings: f is the given id, t the mapped one; :ids is the list of given ids
mappings = [
    DBMapping(idtype, 'MyName', """SELECT my_id AS f, name AS t FROM mytable WHERE my_id IN :ids""",
              integer_ids=True),
    DBMapping('MyName', idtype, """SELECT name AS f, my_id AS t FROM mytable WHERE name IN :ids""",
              search="""SELECT name AS f, my_id AS t FROM mytable WHERE lower(name) LIKE :query
                        ORDER BY name LIMIT :limit"""),
    DBMapping(idtype, 'MyCategory', """SELECT my_id AS f, cat AS t FROM mytable WHERE my_id IN :ids""",
              integer_ids=True),
    DBMapping('MyCategory', idtype,
              """SELECT cat AS f, my_id AS t FROM mytable WHERE cat IN :ids ORDER BY my_id"""),
    DBMapping(idtype_a, 'AName', """SELECT a_id AS f, a_name AS t FROM a WHERE a_id IN :ids""",
              integer_ids=True),
    DBMapping('AName', idtype_a, """SELECT a_name AS f, a_id AS t FROM a WHERE a_name IN :ids""",
              search="""SELECT a_name AS f, a_id AS t FROM a WHERE lower(a_name) LIKE :query
                        ORDER BY a_name LIMIT :limit"""),
]


def create():
    """
    factory method to build this extension
    :return:
    """
    connector = DBConnector(views, agg_score=agg_score, mappings=mappings)
    connector.description = 'sample connector to the mydb.sqlite database'
    return connector
