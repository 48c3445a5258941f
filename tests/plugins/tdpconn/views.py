"""The views, built by helper functions per entity as large published connectors do.

``build(api, backend)`` takes the builder API as a module (``DBViewBuilder``, ``DBMapping``,
``inject_where``, ``limit_offset``, ``add_common_queries``) and the database kind (``sqlite``,
``postgresql``, ``mysql``) for the few aggregates that differ between databases.
"""
import re

from tdpconn.entity import cellline
from tdpconn.entity import data
from tdpconn.entity import gene

#: JSON aggregates per database: (object of key -> value, array of min/avg/max)
_JSON = {
    'postgresql': ('json_object_agg({k}, {v})', 'json_build_array(min({v}), avg({v}), max({v}))'),
    'sqlite': ('json_group_object({k}, {v})', 'json_array(min({v}), avg({v}), max({v}))'),
    'mysql': ('JSON_OBJECTAGG({k}, {v})', 'JSON_ARRAY(MIN({v}), AVG({v}), MAX({v}))'),
}


def agg_score(api, backend):
    """The connector's AggregateScore: ``{agg}({data_subtype})`` and named aggregations."""
    _, boxplot = _JSON[backend]
    b = api.DBViewBuilder().query('{agg}({data_subtype})')
    if backend == 'postgresql':
        b.query('median', 'percentile_cont(0.5) WITHIN GROUP (ORDER BY {data_subtype})')
    b.query('boxplot', boxplot.format(v='{data_subtype}'))
    return b.replace('agg').replace('data_subtype').build()


def create_common(api, views, entity):
    views[entity.prefix] = (
        api.DBViewBuilder().idtype(entity.idtype).table(entity.table)
        .query("""
      SELECT d.{id} as id, d.*
      FROM {table} d
      ORDER BY {sort} ASC""".format(id=entity.id, table=entity.table, sort=entity.sort))
        .derive_columns()
        .column(entity.id, label='id', type='string')
        .call(entity.column_def)
        .call(api.inject_where)
        .filter('panel', entity.panel, join=entity.panel_join)
        .filter('panel_' + entity.id, entity.panel, join=entity.panel_join)
        .build())

    views[entity.prefix + '_items'] = (
        api.DBViewBuilder('helper').idtype(entity.idtype)
        .query("""
      SELECT {id} as id, {{column}} AS text
      FROM {table} WHERE LOWER({{column}}) LIKE :query AND species = :species
      ORDER BY {{column}} ASC""".format(table=entity.table, id=entity.id))
        .replace('column', entity.columns)
        .call(api.limit_offset)
        .arg('query')
        .arg('species')
        .build())

    views[entity.prefix + '_items_verify'] = (
        api.DBViewBuilder('helper').idtype(entity.idtype)
        .query("""
      SELECT {id} as id, {{column}} AS text
       FROM {table} WHERE species = :species""".format(table=entity.table, id=entity.id))
        .replace('column', entity.columns)
        .call(api.inject_where)
        .arg('species')
        .filter(entity.id, 'LOWER(' + entity.id + ') {operator} {value}')
        .build())

    views[entity.prefix + '_unique'] = (
        api.DBViewBuilder('helper')
        .query("""
        SELECT s as id, s as text
        FROM (SELECT distinct {{column}} AS s
              FROM {table} WHERE LOWER({{column}}) LIKE :query AND species = :species) u
        ORDER BY s ASC""".format(table=entity.table))
        .replace('column', entity.columns)
        .call(api.limit_offset)
        .arg('query')
        .arg('species')
        .build())

    views[entity.prefix + '_unique_all'] = (
        api.DBViewBuilder('helper')
        .query("""
        SELECT distinct {{column}} AS text
        FROM {table} WHERE species = :species AND {{column}} is not null
        ORDER BY {{column}} ASC""".format(table=entity.table))
        .replace('column', entity.columns)
        .arg('species')
        .build())

    # no filters, no columns: filter keys are the table's columns, as the client sends them
    views[entity.prefix + '_all_columns'] = (
        api.DBViewBuilder('helper')
        .query("""
    SELECT {sort} as id, t.* FROM {table} t
  """.format(sort=entity.sort, table=entity.table))
        .call(api.inject_where)
        .build())

    views[entity.prefix + '_check_ids'] = (
        api.DBViewBuilder('helper')
        .query("""
    SELECT COUNT(*) AS matches FROM {table}
  """.format(table=entity.table))
        .call(api.inject_where)
        .build())


def create_gene(api, views, g):
    views[g.prefix + '_panel'] = (
        api.DBViewBuilder()
        .query("""
      SELECT genesetname AS id, count(*) AS description FROM tdp_geneassignment
      GROUP BY genesetname ORDER BY genesetname ASC""")
        .build())

    views[g.prefix + '_gene_items_verify'] = (
        api.DBViewBuilder('helper').idtype(g.idtype)
        .query("""
          SELECT {g.id} as id, symbol AS text
          FROM {g.table} WHERE species = :species""".format(g=g))
        .call(api.inject_where)
        .arg('species')
        .filter('symbol', '(lower(ensg) {operator} {value} or lower(symbol) {operator} {value})')
        .build())


def create_sample(api, views, sample, g):
    views[sample.prefix + '_panel'] = (
        api.DBViewBuilder()
        .query("""
  SELECT panel as id, paneldescription as description, species
  FROM tdp_panel ORDER BY panel ASC""")
        .build())

    def _common_vis(builder):
        return (builder.call(api.inject_where)
                .idtype(sample.idtype)
                .arg('ensg')
                .filters(sample.columns)
                .filter('panel', sample.panel, join=sample.panel_join)
                .filter('panel_' + sample.id, sample.panel, join=sample.panel_join)
                .filter(sample.id, table='d')
                .filter(g.id, table='d'))

    views[sample.prefix + '_co_expression'] = (
        api.DBViewBuilder('helper')
        .query("""
     SELECT s.{s.id} AS id, g.symbol, s.{s.id} as samplename, d.{{attribute}} AS expression,
            s.{{color}} as color
        FROM tdp_expression d
        INNER JOIN {g.table} g ON d.{g.id} = g.{g.id}
        INNER JOIN {s.table} s ON d.{s.id} = s.{s.id}
        WHERE d.{g.id} = :ensg""".format(s=sample, g=g))
        .replace('attribute', ['tpm', 'counts'])
        .replace('color', sample.columns)
        .call(_common_vis)
        .build())

    views[sample.prefix + '_onco_print_sample_list'] = (
        api.DBViewBuilder('helper').idtype(sample.idtype)
        .query("""
       SELECT d.{s.id} AS id
     FROM {s.table} d
     WHERE d.species = :species""".format(s=sample))
        .call(api.inject_where)
        .arg('species')
        .filters(sample.columns)
        .filter('panel', sample.panel, join=sample.panel_join)
        .filter('panel_' + sample.id, sample.panel, join=sample.panel_join)
        .filter(sample.id, table='d')
        .build())


def create_gene_sample_score(api, views, backend, g, sample, inline_aggregate_sample_filter=False,
                             callback=None):
    basename = '{g}_{s}'.format(g=g.prefix, s=sample.prefix)
    numbers, _ = _JSON[backend]

    def _common(builder):
        return (builder.arg('species')
                .replace('table', data.tables)
                .filter('panel', g.panel, join=g.panel_join)
                .filter(sample.id, table='d')
                .filter('panel_' + sample.id, sample.panel, join=sample.panel_join)
                .filter(g.id, table='d')
                .filter('panel_' + g.id, g.panel, join=g.panel_join))

    views[basename + '_single_score'] = (
        api.DBViewBuilder('score').idtype(g.idtype)
        .query("""
          SELECT d.{g.id} AS id, d.{{attribute}} AS score
          FROM tdp_{{table}} d
          INNER JOIN {s.table} s ON d.{s.id} = s.{s.id}
          INNER JOIN {g.table} g ON d.{g.id} = g.{g.id}
          WHERE g.species = :species AND d.{s.id} = :name""".format(g=g, s=sample))
        .replace('attribute', data.attributes)
        .call(api.inject_where)
        .arg('name')
        .call(callback)
        .filters(g.columns)
        .call(_common)
        .build())

    def aggregate(attr):
        b = api.DBViewBuilder('score').idtype(g.idtype)
        if inline_aggregate_sample_filter:
            b.query("""SELECT d.{g.id} AS id, {attr}
                   FROM tdp_{{table}} d
                   INNER JOIN {s.table} s ON d.{s.id} = s.{s.id}
                   {{joins}}
                   WHERE s.species = :species
                   {{and_where}}
                   GROUP BY d.{g.id}""".format(g=g, s=sample, attr=attr))
            b.query('count', """
                    SELECT count(DISTINCT d.{s.id}) AS count
                    FROM tdp_{{table}} d
                    INNER JOIN {s.table} s ON d.{s.id} = s.{s.id}
                    {{joins}}
                    WHERE s.species = :species
                    {{and_where}}""".format(s=sample))
            b.filters(sample.columns, table='s')
        else:
            b.query("""SELECT d.{g.id} AS id, {attr}
             FROM tdp_{{table}} d
             {{joins}}
             WHERE d.{s.id} IN (SELECT {s.id} FROM {s.table} WHERE species = :species
                                {{and_sample_where}})
             {{and_where}}
             GROUP BY d.{g.id}""".format(g=g, s=sample, attr=attr))
            b.query('count', """
              SELECT count(DISTINCT d.{s.id}) AS count
              FROM tdp_{{table}} d
              {{joins}}
              WHERE d.{s.id} IN (SELECT {s.id} FROM {s.table} WHERE species = :species
                                 {{and_sample_where}})
              {{and_where}}""".format(s=sample))
            b.filters(sample.columns, group='sample')
        b.replace('and_sample_where').replace('and_where').replace('joins')
        # specific to have the proper key
        b.query('agg_score_numbers', numbers.format(k='d.' + sample.id, v='{data_subtype}'))
        b.call(_common).call(callback)
        return b

    suffix = '_inline' if inline_aggregate_sample_filter else ''
    views[basename + '_frequency_score' + suffix] = (
        aggregate("""SUM(CASE WHEN {attribute} {operator} :value THEN 1 ELSE 0 END) as count,
                     COUNT({attribute}) as total""")
        .replace('attribute', data.attributes)
        .replace('operator', data.operators)
        .arg('value', type=float)
        .build())

    views[basename + '_frequency_class_score' + suffix] = (
        aggregate("""SUM(CASE WHEN {attribute} in ({value}) THEN 1 ELSE 0 END) as count,
                     COUNT({attribute}) as total""")
        .replace('attribute', data.attributes)
        .replace('value', re.compile(r'([-\d]+)(,[-\d])*'))
        .build())

    views[basename + '_score' + suffix] = (
        aggregate("""{agg_score} AS score""").replace('agg_score')
        .column('score', type='number').build())


def create_namedset_scores(api, views, g):
    views[g.prefix + '_namedset_containment_score'] = (
        api.DBViewBuilder('score').idtype(g.idtype)
        .query("""
      SELECT {g.id} as id, 1 as score
      FROM {g.panel_table}
      WHERE {g.panel_name} = :panel
    """.format(g=g))
        .arg('panel')
        .build())


def create_drug(api, views):
    api.add_common_queries(views, 'tdp_panel', 'Panel', 'panel as id',
                           ['panel', 'paneldescription'], prefix='panel',
                           name_column='paneldescription')


def mappings(api, backend):
    # as published connectors for PostgreSQL write them: one array parameter
    ids = '= ANY(:ids)' if backend == 'postgresql' else 'IN :ids'
    return [
        api.DBMapping(gene.idtype, 'GeneSymbol',
                      f'SELECT ensg AS f, symbol AS t FROM tdp_gene WHERE ensg {ids}'),
        api.DBMapping('GeneSymbol', gene.idtype,
                      f'SELECT symbol AS f, ensg AS t FROM tdp_gene WHERE symbol {ids}'),
        api.DBMapping(cellline.idtype, 'Cosmic', 'SELECT celllinename AS f, cosmicid AS t '
                      f'FROM tdp_cellline WHERE celllinename {ids}'),
    ]


def build(api, backend):
    """``(views, agg_score, mappings)`` built with the builder API ``api``."""
    views = {}
    create_common(api, views, gene)
    create_gene(api, views, gene)
    create_common(api, views, cellline)
    create_sample(api, views, cellline, gene)
    create_gene_sample_score(api, views, backend, gene, cellline)
    create_gene_sample_score(api, views, backend, gene, cellline,
                             inline_aggregate_sample_filter=True)
    create_gene_sample_score(api, views, backend, cellline, gene)
    create_namedset_scores(api, views, gene)
    create_drug(api, views)
    return views, agg_score(api, backend), mappings(api, backend)
