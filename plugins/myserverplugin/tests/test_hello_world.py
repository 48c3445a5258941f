"""The hello_world namespace, through the core_server test client."""


def test_plugin_is_loaded(client):
    plugins = {p["name"]: p for p in client.get("/api/_plugins").get_json()}
    assert plugins["myserverplugin"]["status"] == "loaded"
    ids = {(e["type"], e["id"]) for e in plugins["myserverplugin"]["extensions"]}
    assert ("namespace", "hello_world") in ids


def test_hello_world(client):
    response = client.get("/api/hello_world/")
    assert response.status_code == 200
    assert response.get_json() == {"message": "Hello World!"}
    assert client.get("/api/hello_world/?name=Ada").get_json() == {"message": "Hello Ada!"}


def test_unknown_route_in_namespace_is_json(client):
    response = client.get("/api/hello_world/nope")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
