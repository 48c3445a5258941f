"""The tutorial's mydb connector (seed 000), unchanged apart from ``mytable.*``.

``SELECT my_id as id, * FROM mytable`` of the tutorial is not valid on MariaDB/MySQL, which only
accept a bare ``*`` first; ``mytable.*`` gives the same rows on SQLite, PostgreSQL and MariaDB.
"""
from tdp_core.dbview import DBViewBuilder, DBConnector, add_common_queries, inject_where

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


def create():
    """
    factory method to build this extension
    :return:
    """
    connector = DBConnector(views)
    connector.description = 'sample connector to the mydb.sqlite database'
    return connector
