"""myserverplugin: the server plugin of the TDP backend-library tutorial."""


def register(registry):
    """Register this plugin's extensions (the tutorial's registry)."""
    # generator-phovea:begin
    registry.append('namespace', 'hello_world', 'myserverplugin.hello_world',
                    {'namespace': '/api/hello_world'})
    # generator-phovea:end

    # document store: saved mytable selections and their owners (YAML schemas in this package)
    registry.append('doc-collection', 'analysts', 'myserverplugin', {'schema': 'analysts.yaml'})
    registry.append('doc-collection', 'selections', 'myserverplugin',
                    {'schema': 'selections.yaml'})
