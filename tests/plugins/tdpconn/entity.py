"""The entities of the connector (gene, cellline) in the shape published connectors use."""
from collections import namedtuple

Entity = namedtuple('Entity', ['prefix', 'idtype', 'id', 'table', 'columns', 'panel_table',
                               'panel_name', 'panel', 'panel_join', 'sort', 'column_def'])
DataEntity = namedtuple('DataEntity', ['tables', 'attributes', 'operators'])


def _gene_columns(query):
    return query.column('biotype', type='categorical').column('chromosome', type='categorical')


def _cellline_columns(query):
    return (query.column('tumortype', type='categorical').column('organ', type='categorical')
            .column('gender', type='categorical').column('cosmicid', type='number')
            .column('mutational_fraction', type='number'))


gene = Entity(
    'gene', idtype='Ensembl', id='ensg', table='tdp_gene',
    columns=['ensg', 'symbol', 'species', 'chromosome', 'biotype', 'strand', 'seqregionstart'],
    panel_table='tdp_geneassignment', panel_name='genesetname',
    panel='ga.genesetname {operator} {value}',
    panel_join='INNER JOIN tdp_geneassignment ga ON d.ensg = ga.ensg',
    sort='symbol', column_def=_gene_columns)

cellline = Entity(
    'cellline', idtype='Cellline', id='celllinename', table='tdp_cellline',
    columns=['celllinename', 'species', 'tumortype', 'organ', 'gender', 'cosmicid',
             'mutational_fraction'],
    panel_table='tdp_panelassignment', panel_name='panel',
    panel='d.celllinename IN (SELECT celllinename FROM tdp_panelassignment '
          'WHERE panel {operator} {value})',
    panel_join=None, sort='celllinename', column_def=_cellline_columns)

data = DataEntity(tables=['expression', 'copynumber'],
                  attributes=['tpm', 'counts', 'relativecopynumber', 'copynumberclass'],
                  operators=['<', '>', '>=', '<=', '=', '<>'])
