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
