"""The ``core-server`` command line: thin click commands over library functions."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import click
from flask import Flask

from core_server.config import SETTINGS
from core_server.config import ConfigError
from core_server.registry import RegistryError

F = Callable[..., Any]


def app_options(fn: F) -> F:
    """The options every command that builds the app takes."""
    fn = click.option("--strict", is_flag=True, default=None,
                      help="Fail if any plugin fails to load.")(fn)
    fn = click.option("--data-dir", type=click.Path(file_okay=False),
                      help="Data directory (default ./_data).")(fn)
    fn = click.option("--plugins-dir", "plugins_dirs", multiple=True,
                      type=click.Path(file_okay=False),
                      help="Folder with plugins; repeatable (default ./plugins, or "
                           "CORE_SERVER_PLUGINS_DIR).")(fn)
    fn = click.option("--config", "config_file", type=click.Path(dir_okay=False),
                      envvar="CORE_SERVER_CONFIG",
                      help="Workspace config file, JSON or YAML (env CORE_SERVER_CONFIG).")(fn)
    return fn


def build_app(config_file: str | None, plugins_dirs: tuple[str, ...], data_dir: str | None,
              strict: bool | None) -> Flask:
    """Create the app, turning config and strict-mode errors into a clean exit 2."""
    from core_server.app import create_app

    try:
        return create_app(config_file=config_file, plugins_dirs=list(plugins_dirs) or None,
                          data_dir=data_dir, strict=strict)
    except (ConfigError, RegistryError) as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="core_server")
def main() -> None:
    """core_server: serve SQL views, a document store and plugin endpoints."""


@main.command()
@app_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to bind.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="More than 1 runs gunicorn with that many worker processes.")
@click.option("--debug", is_flag=True, help="Flask debug mode with reloader (development only).")
def serve(config_file: str | None, plugins_dirs: tuple[str, ...], data_dir: str | None,
          strict: bool | None, host: str, port: int, workers: int, debug: bool) -> None:
    """Run the server (development server, or gunicorn with --workers N)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = build_app(config_file, plugins_dirs, data_dir, strict)
    from core_server.demo import ensure_demo_data

    ensure_demo_data(app, progress=lambda message: click.echo(f"demo data: {message}", err=True))
    click.echo(f"core_server on http://{host}:{port}/api/_plugins "
               f"({len(app.extensions['core_server'].registry.plugins)} plugins)", err=True)
    if workers > 1:
        from core_server.wsgi import run_gunicorn

        run_gunicorn(app, host=host, port=port, workers=workers)
    else:
        app.run(host=host, port=port, debug=debug, threaded=True)


@main.command()
@app_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins(config_file: str | None, plugins_dirs: tuple[str, ...], data_dir: str | None,
            strict: bool | None, as_json: bool) -> None:
    """List discovered plugins and their extensions."""
    registry = build_app(config_file, plugins_dirs, data_dir, strict).extensions["core_server"].registry
    found = [p.to_dict() for p in registry.plugins.values()]
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for plugin in found:
        click.echo(f"{plugin['name']} {plugin['version']} [{plugin['status']}] {plugin['path']}")
        for ext in plugin["extensions"]:
            click.echo(f"  {ext['type']:<24} {ext['id']:<24} {ext['module']}")
        for error in plugin["errors"]:
            click.secho(f"  error: {error}", fg="red")


@main.command()
@app_options
@click.option("--json", "as_json", is_flag=True, help="Print the merged config as JSON.")
def config(config_file: str | None, plugins_dirs: tuple[str, ...], data_dir: str | None,
           strict: bool | None, as_json: bool) -> None:
    """Show the merged configuration (secrets as ***) or, without --json, the settings table."""
    cfg = build_app(config_file, plugins_dirs, data_dir, strict).extensions["core_server"].config
    merged = cfg.redacted()
    if as_json:
        click.echo(json.dumps(merged, indent=2, default=str))
        return
    for setting in SETTINGS:
        value = cfg.get_path(setting.key)
        shown = "***" if setting.key in cfg.secrets else json.dumps(value, default=str)
        click.echo(f"{setting.key} = {shown}\n    {setting.help}")


@main.command("demo-data")
@app_options
@click.option("--rows", type=click.IntRange(min=1), default=None,
              help="Rows of the main demo table (default: config dbview.demo_rows, 1000).")
@click.option("--force", is_flag=True, help="Rewrite demo databases that exist already.")
def demo_data(config_file: str | None, plugins_dirs: tuple[str, ...], data_dir: str | None,
              strict: bool | None, rows: int | None, force: bool) -> None:
    """Generate the plugins' demo SQLite databases (e.g. _data/mydb.sqlite) if missing."""
    from core_server.demo import ensure_demo_data

    app = build_app(config_file, plugins_dirs, data_dir, strict)
    written = ensure_demo_data(app, rows=rows, force=force, progress=click.echo)
    if not written:
        click.echo("demo data present (use --force to rewrite)")


@main.command()
@app_options
def check(config_file: str | None, plugins_dirs: tuple[str, ...], data_dir: str | None,
          strict: bool | None) -> None:
    """Load every plugin and extension; exit 1 if any failed, naming the reasons."""
    from core_server.health import check_extensions

    app = build_app(config_file, plugins_dirs, data_dir, False)
    registry = app.extensions["core_server"].registry
    with app.app_context():
        check_extensions(registry)
    failed = registry.failed
    for plugin in registry.plugins.values():
        mark = click.style("ok", fg="green") if not plugin.errors else click.style("FAILED", fg="red")
        click.echo(f"{mark} {plugin.name} ({len(plugin.extensions)} extensions)")
        for error in plugin.errors:
            click.echo(f"    {error}")
    sys.exit(1 if failed else 0)
