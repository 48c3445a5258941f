###############################################################################
# A test fixture in the style of a phovea-generator server plugin (tdp_core <= 14).
###############################################################################


def phovea(registry):
  """
  register extension points
  :param registry:
  """
  # generator-phovea:begin
  registry.append('tdp-sql-database-definition', 'phovea_demo', 'tdp_phovea_demo.sql',
                  dict(configKey='tdp_phovea_demo'))
  registry.append('user_stores', 'phovea_demo_store', 'tdp_phovea_demo.store', {})
  registry.append('namespace', 'phovea_demo_api', 'tdp_phovea_demo.api',
                  {'namespace': '/api/phovea_demo'})
  # types core_server does not serve: reported as warnings, the plugin still loads
  registry.append('dataset-provider', 'phovea_demo_datasets', 'tdp_phovea_demo.sql', {})
  registry.append('greenifier', 'psycopg2', 'tdp_phovea_demo.sql', {})
  # generator-phovea:end
  pass


def phovea_config():
  """
  :return: file pointer to config file
  """
  from os import path
  here = path.abspath(path.dirname(__file__))
  config_file = path.join(here, 'config.json')
  return config_file if path.exists(config_file) else None
