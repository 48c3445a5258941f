"""myserverplugin: the server plugin of the TDP backend-library tutorial."""


def register(registry):
    """Register this plugin's extensions (the tutorial's registry)."""
    # generator-phovea:begin
    registry.append('namespace', 'hello_world', 'myserverplugin.hello_world',
                    {'namespace': '/api/hello_world'})
    registry.append('tdp-sql-database-definition', 'mydb', 'myserverplugin.mydb', {'configKey': 'myserverplugin'})
    registry.append('tdp-sql-database-extension', 'mydb_extension', 'myserverplugin.mydb_extension',
                    {'base': 'mydb'})
    # generator-phovea:end
    # custom endpoints (core_server security issue): /api/proxy/...
    registry.append('endpoint', 'planets', 'myserverplugin.endpoints',
                    {'route': 'planets', 'factory': 'create_list',
                     'description': 'the planets; ?min_moons=N filters'})
    registry.append('endpoint', 'planet', 'myserverplugin.endpoints',
                    {'route': 'planets/{planet_id:int}', 'factory': 'create_one',
                     'description': 'one planet by id'})
    registry.append('endpoint', 'greet', 'myserverplugin.endpoints',
                    {'route': 'greet/{name}', 'methods': ['GET', 'POST'],
                     'description': 'a greeting; POST {"lang": "de"} needs a login',
                     # the POST body, for /api/openapi.json
                     'body': {'type': 'object', 'properties': {'lang': {
                         'type': 'string', 'enum': ['de', 'en', 'fr', 'it']}}}})
    registry.append('endpoint', 'whoami', 'myserverplugin.endpoints',
                    {'route': 'whoami', 'factory': 'create_whoami', 'security': 'authenticated',
                     'description': 'the caller (401 for anonymous users)'})

    # document store: saved mytable selections and their owners (YAML schemas in this package)
    registry.append('doc-collection', 'analysts', 'myserverplugin', {'schema': 'analysts.yaml'})
    registry.append('doc-collection', 'selections', 'myserverplugin',
                    {'schema': 'selections.yaml'})
