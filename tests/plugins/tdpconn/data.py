"""Deterministic demo data of the connector in any database: ``write(url)``."""
import random

import sqlalchemy as sa

GENES = 24
CELLLINES = 16
SEED = 17


def _tables(md):
    return [
        sa.Table('tdp_gene', md, sa.Column('ensg', sa.String(20), primary_key=True),
                 sa.Column('symbol', sa.String(20)), sa.Column('species', sa.String(20)),
                 sa.Column('chromosome', sa.String(5)), sa.Column('biotype', sa.String(30)),
                 sa.Column('strand', sa.Integer), sa.Column('seqregionstart', sa.Integer)),
        sa.Table('tdp_geneassignment', md, sa.Column('ensg', sa.String(20)),
                 sa.Column('genesetname', sa.String(30))),
        sa.Table('tdp_cellline', md, sa.Column('celllinename', sa.String(20), primary_key=True),
                 sa.Column('species', sa.String(20)), sa.Column('tumortype', sa.String(30)),
                 sa.Column('organ', sa.String(30)), sa.Column('gender', sa.String(1)),
                 sa.Column('cosmicid', sa.Integer), sa.Column('mutational_fraction', sa.Float)),
        sa.Table('tdp_panel', md, sa.Column('panel', sa.String(30)),
                 sa.Column('paneldescription', sa.String(60)), sa.Column('species', sa.String(20))),
        sa.Table('tdp_panelassignment', md, sa.Column('celllinename', sa.String(20)),
                 sa.Column('panel', sa.String(30))),
        sa.Table('tdp_expression', md, sa.Column('ensg', sa.String(20)),
                 sa.Column('celllinename', sa.String(20)), sa.Column('tpm', sa.Float),
                 sa.Column('counts', sa.Integer)),
        sa.Table('tdp_copynumber', md, sa.Column('ensg', sa.String(20)),
                 sa.Column('celllinename', sa.String(20)),
                 sa.Column('relativecopynumber', sa.Float),
                 sa.Column('copynumberclass', sa.Integer)),
    ]


def genes():
    rng = random.Random(SEED)
    for i in range(1, GENES + 1):
        yield {'ensg': f'ENSG{i:05d}', 'symbol': f'G{i}', 'species': 'human' if i % 6 else 'mouse',
               'chromosome': str(rng.randint(1, 3)),
               'biotype': rng.choice(['protein_coding', 'lincRNA']),
               'strand': rng.choice([-1, 1]), 'seqregionstart': rng.randint(1000, 9999)}


def celllines():
    rng = random.Random(SEED + 1)
    for i in range(1, CELLLINES + 1):
        yield {'celllinename': f'CL{i:02d}', 'species': 'human' if i % 5 else 'mouse',
               'tumortype': rng.choice(['lung cancer', 'breast cancer', 'melanoma']),
               'organ': rng.choice(['lung', 'breast', 'skin']), 'gender': rng.choice('MF'),
               'cosmicid': 900000 + i, 'mutational_fraction': round(rng.random(), 3)}


def write(url):
    """(Re)create the connector's tables with their rows at ``url``."""
    md = sa.MetaData()
    tables = {t.name: t for t in _tables(md)}
    rng = random.Random(SEED + 2)
    gene_rows, cell_rows = list(genes()), list(celllines())
    rows = {
        'tdp_gene': gene_rows, 'tdp_cellline': cell_rows,
        'tdp_geneassignment': [{'ensg': g['ensg'], 'genesetname': f'set{i % 3}'}
                               for i, g in enumerate(gene_rows) if i % 4],
        'tdp_panel': [{'panel': f'panel{i}', 'paneldescription': f'panel number {i}',
                       'species': 'human'} for i in range(3)],
        'tdp_panelassignment': [{'celllinename': c['celllinename'], 'panel': f'panel{i % 3}'}
                                for i, c in enumerate(cell_rows) if i % 3],
        'tdp_expression': [{'ensg': g['ensg'], 'celllinename': c['celllinename'],
                            'tpm': round(rng.uniform(0, 50), 2), 'counts': rng.randint(0, 900)}
                           for g in gene_rows for c in cell_rows if rng.random() < 0.8],
        'tdp_copynumber': [{'ensg': g['ensg'], 'celllinename': c['celllinename'],
                            'relativecopynumber': round(rng.uniform(0, 4), 2),
                            'copynumberclass': rng.choice([-2, -1, 0, 1, 2])}
                           for g in gene_rows for c in cell_rows if rng.random() < 0.7],
    }
    engine = sa.create_engine(url)
    md.drop_all(engine)
    md.create_all(engine)
    with engine.begin() as conn:
        for name, items in rows.items():
            conn.execute(tables[name].insert(), items)
    engine.dispose()
