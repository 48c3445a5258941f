"""A test-only connector written the way large published TDP connectors are written.

Helper functions generate many views per entity (``create_common``, ``create_sample``,
``create_gene_sample_score``): filter groups, joins, inline aggregates, an ``AggregateScore``
with per-aggregation queries, id mappings. ``views.build(api, backend)`` builds them with any
builder API: ours (``tdp_core.dbview`` of core_server) or tdp_core 17's own, so the
differential tests compare both on the same views.
"""


def phovea(registry):
    registry.append('tdp-sql-database-definition', 'publiclike', 'tdpconn.sql',
                    {'configKey': 'tdpconn'})
