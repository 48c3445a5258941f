"""The ``core-server`` command line: thin click commands over library functions."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from typing import NoReturn

import click
from flask import Flask

from core_server import compose as compose_mod
from core_server import metrics
from core_server import proxyconf
from core_server import scaffold
from core_server.app import create_app
from core_server.config import REDACTED
from core_server.config import SETTINGS
from core_server.config import Config
from core_server.config import ConfigError
from core_server.dbview import dbviews_of
from core_server.demo import ensure_demo_data
from core_server.health import check_extensions
from core_server.httplimits import JsonErrorRequestHandler
from core_server.registry import RegistryError
from core_server.security import hash_password as make_hash
from core_server.tdp import MigrationError
from core_server.tdp import Migrations
from core_server.tdp import migrations_of
from core_server.wsgi import DEFAULT_KEEPALIVE
from core_server.wsgi import DEFAULT_THREADS
from core_server.wsgi import run_gunicorn

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
              strict: bool | None, config: Mapping[str, Any] | None = None) -> Flask:
    """Create the app, turning config and strict-mode errors into a clean exit 2.

    :param config: the highest config layer (e.g. settings a command needs).
    """
    try:
        return create_app(config, config_file=config_file, plugins_dirs=list(plugins_dirs) or None,
                          data_dir=data_dir, strict=strict)
    except (ConfigError, RegistryError) as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)


def configure_logging(stream: Any = None) -> None:
    """The log lines of ``serve``: INFO and up (the access log too) to stderr (or ``stream``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        stream=stream)


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
@click.option("--threads", default=DEFAULT_THREADS, show_default=True,
              type=click.IntRange(min=1),
              help="Threads per gunicorn worker (1: sync workers, more: gthread).")
@click.option("--keepalive", default=DEFAULT_KEEPALIVE, show_default=True,
              type=click.IntRange(min=0),
              help="Seconds gunicorn keeps an idle connection open (0: one request each).")
@click.option("--debug", is_flag=True, help="Flask debug mode with reloader (development only).")
def serve(config_file: str | None, plugins_dirs: tuple[str, ...], data_dir: str | None,
          strict: bool | None, host: str, port: int, workers: int, threads: int,
          keepalive: int, debug: bool) -> None:
    """Run the server (development server, or gunicorn with --workers N)."""
    configure_logging()
    if workers > 1:
        metrics.enable_multiprocess()  # before the app creates its metrics
    app = build_app(config_file, plugins_dirs, data_dir, strict)
    ensure_demo_data(app, progress=lambda message: click.echo(f"demo data: {message}", err=True))
    click.echo(f"core_server on http://{host}:{port}/api/_plugins "
               f"({len(app.extensions['core_server'].registry.plugins)} plugins)", err=True)
    if workers > 1:
        run_gunicorn(app, host=host, port=port, workers=workers, threads=threads,
                     keepalive=keepalive)
    else:
        app.run(host=host, port=port, debug=debug, threaded=True,
                request_handler=JsonErrorRequestHandler)


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
        for warning in plugin["warnings"]:
            click.secho(f"  warning: {warning}", fg="yellow")


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
    shown = Config(merged)  # secrets and password hashes are *** in the table too
    for setting in SETTINGS:
        value = shown.get_path(setting.key)
        text = REDACTED if value == REDACTED else json.dumps(value, default=str)
        click.echo(f"{setting.key} = {text}\n    {setting.help}")


@main.command("demo-data")
@app_options
@click.option("--rows", type=click.IntRange(min=1), default=None,
              help="Rows of the main demo table (default: config dbview.demo_rows, 1000).")
@click.option("--force", is_flag=True, help="Rewrite demo databases that exist already.")
def demo_data(config_file: str | None, plugins_dirs: tuple[str, ...], data_dir: str | None,
              strict: bool | None, rows: int | None, force: bool) -> None:
    """Generate the plugins' demo SQLite databases (e.g. _data/mydb.sqlite) if missing."""
    app = build_app(config_file, plugins_dirs, data_dir, strict)
    written = ensure_demo_data(app, rows=rows, force=force, progress=click.echo)
    if not written:
        click.echo("demo data present (use --force to rewrite)")


@main.command()
@app_options
def check(config_file: str | None, plugins_dirs: tuple[str, ...], data_dir: str | None,
          strict: bool | None) -> None:
    """Load every plugin and extension; exit 1 if any failed, naming the reasons."""
    app = build_app(config_file, plugins_dirs, data_dir, False)
    state = app.extensions["core_server"]
    with app.app_context():
        check_extensions(state.registry)
        problems = dbviews_of(app).dburl_problems()
    for connector, message, fatal in problems:
        label = click.style("FAILED", fg="red") if fatal else click.style("warning", fg="yellow")
        click.echo(f"{label} connector {connector}: {message}")
    for warning in state.config.warnings:
        click.echo(f"{click.style('CONFIG', fg='red')} {warning}")
    for plugin in state.registry.plugins.values():
        mark = click.style("ok", fg="green") if not plugin.errors else click.style("FAILED", fg="red")
        click.echo(f"{mark} {plugin.name} ({plugin.generation}, {len(plugin.extensions)} "
                   "extensions)")
        for error in plugin.errors:
            click.echo(f"    {error}")
        for warning in plugin.warnings:
            click.echo(f"    warning: {warning}")
    fatal = any(p[2] for p in problems)
    sys.exit(1 if state.registry.failed or state.config.warnings or fatal else 0)


@main.command("hash-password")
@click.option("--stdin", "from_stdin", is_flag=True,
              help="Read the password from the first line of standard input (for scripts).")
@click.option("--method", default="scrypt", show_default=True,
              help="werkzeug hash method, e.g. scrypt or pbkdf2:sha256.")
def hash_password(from_stdin: bool, method: str) -> None:
    """Print a password hash for core_server.security.users[].password."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        click.secho("error: the password is empty", fg="red", err=True)
        sys.exit(2)
    try:
        click.echo(make_hash(password, method))
    except ValueError as exc:  # werkzeug rejects unknown methods
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)


# --- scaffold and deploy (library code in core_server/scaffold/ and core_server/compose.py) ---


def _interactive() -> bool:
    """Prompt for missing options only when a person is at the terminal."""
    return sys.stdin.isatty()


class _PromptOption(click.Option):
    """An option that prompts (with its default) when interactive and takes the default when not."""

    def prompt_for_value(self, ctx: click.Context) -> Any:
        if not _interactive():
            return self.get_default(ctx)
        return super().prompt_for_value(ctx)


def _fail(message: str) -> NoReturn:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(2)


@main.command("new-plugin")
@click.argument("name")
@click.option("--dir", "directory", default=".", show_default=True,
              type=click.Path(file_okay=False), help="Folder in which the NAME folder is created.")
@click.option("--description", cls=_PromptOption, prompt="Description",
              default="A core_server plugin", help="One line for package.json and pyproject.toml.")
@click.option("--author", cls=_PromptOption, prompt="Author", default="",
              help="Author name for package.json and pyproject.toml.")
def new_plugin(name: str, directory: str, description: str, author: str) -> None:
    """Create the plugin project NAME (TDP backend-library layout) with passing tests."""
    try:
        created = scaffold.new_plugin(name, directory, description=description, author=author)
    except scaffold.ScaffoldError as exc:
        _fail(str(exc))
    for warning in created.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    for file in created.files:
        click.echo(f"  created {file.relative_to(created.root.parent)}")
    click.echo(f"next: cd {created.root} && pip install -e . && pytest")


@main.command("add-extension")
@click.argument("type")
@click.argument("id")
@click.option("--plugin", "plugin_dir", default=".", show_default=True,
              type=click.Path(file_okay=False, exists=True),
              help="The plugin project (or package) folder.")
@click.option("--module", help="Module name inside the package (default: ID).")
@click.option("--config-key", help="Config section a connector reads dburl from (default: plugin).")
@click.option("--base", help="db-connector-extension: the connector whose engine it shares; "
              "tdp-sql-database-migration: the connector whose database it migrates.")
@click.option("--force", is_flag=True, help="Overwrite an existing module file.")
def add_extension(type: str, id: str, plugin_dir: str, module: str | None,
                  config_key: str | None, base: str | None, force: bool) -> None:
    """Add extension ID of TYPE (e.g. db-connector, namespace; TDP names work) to a plugin."""
    try:
        added = scaffold.add_extension(type, id, plugin_dir, module=module, config_key=config_key, base=base,
                    force=force)
    except scaffold.ScaffoldError as exc:
        _fail(str(exc))
    for file in added.written:
        click.echo(f"  wrote {file}")
    state = "registered" if added.registered else "already registered"
    click.echo(f"{added.type} {added.id!r} ({added.module}) {state}")
    for note in added.notes:
        click.echo(f"  note: {note}")


@main.command()
@app_options
@click.option("--upstream", "upstreams", multiple=True, envvar="NGINX_UPSTREAMS",
              help="An API host as host:port; repeatable (env NGINX_UPSTREAMS, space-separated; "
                   "default api:8080).")
@click.option("--listen", envvar="NGINX_LISTEN", help="nginx's listen address (default 8080).")
@click.option("--run-dir", envvar="NGINX_RUN_DIR", type=click.Path(file_okay=False),
              help="Folder for nginx.conf, pid and temp files (default /tmp/core_server-nginx).")
@click.option("--client-timeout", type=click.IntRange(min=1),
              help="Seconds a client may pause while sending a request (default 10).")
@click.option("--upstream-timeout", type=click.IntRange(min=1), envvar="GUNICORN_TIMEOUT",
              help="Seconds an API host may take (default 120, env GUNICORN_TIMEOUT).")
@click.option("--access-log", envvar="NGINX_ACCESS_LOG",
              help="nginx access_log argument, e.g. '/dev/stdout core_server' (default off).")
@click.option("--print", "print_only", is_flag=True, help="Print the configuration and exit.")
@click.option("--check", is_flag=True, help="Run nginx -t on the configuration and exit.")
def nginx(config_file: str | None, plugins_dirs: tuple[str, ...], data_dir: str | None,
          strict: bool | None, upstreams: tuple[str, ...], listen: str | None,
          run_dir: str | None, client_timeout: int | None, upstream_timeout: int | None,
          access_log: str | None, print_only: bool, check: bool) -> None:
    """Render the nginx configuration for the API hosts and run nginx in the foreground."""
    app = build_app(config_file, plugins_dirs, data_dir, strict)
    hosts = tuple(part for item in upstreams for part in item.split()) or None
    settings = proxyconf.settings_for(
        app, upstreams=hosts, listen=listen, run_dir=run_dir, client_timeout=client_timeout,
        upstream_timeout=upstream_timeout, access_log=access_log)
    try:
        if print_only:
            click.echo(proxyconf.render(settings), nl=False)
        elif check:
            click.echo(proxyconf.check(settings) or "nginx: the configuration is valid")
        else:
            settings, notes = proxyconf.readable_static(settings)
            for note in notes:
                click.echo(f"note: {note}", err=True)
            proxyconf.check(settings)
            proxyconf.exec_nginx(proxyconf.write(settings))
    except proxyconf.ProxyConfError as exc:
        _fail(str(exc))


@main.command()
@app_options
@click.option("--output", default="docker-compose.yml", show_default=True,
              type=click.Path(dir_okay=False), help="The merged compose file.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if --output is not up to date.")
def compose(config_file: str | None, plugins_dirs: tuple[str, ...], data_dir: str | None,
            strict: bool | None, output: str, check: bool) -> None:
    """Merge the deploy/docker-compose.partial.yml of the core and every plugin."""
    app = build_app(config_file, plugins_dirs, data_dir, strict)
    registry = app.extensions["core_server"].registry
    found = compose_mod.sources(registry)
    if not any(source.name == "core_server" for source in found):
        click.secho(f"warning: no {compose_mod.PARTIAL} beside the core_server package (an "
                    "installed wheel has none): the api service comes only from plugins",
                    fg="yellow", err=True)
    try:
        text = compose_mod.render(found)
    except compose_mod.ComposeError as exc:
        _fail(str(exc))
    _check_nginx(app)
    target = Path(output)
    if check:
        diff = compose_mod.diff(target, text)
        if diff:
            click.echo(diff + f"\n{output} is out of date: run core-server compose", err=True)
            sys.exit(1)
        click.echo(f"{output} is up to date")
        return
    target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output} from the partials of {', '.join(s.name for s in found)}")


def _check_nginx(app: Flask) -> None:
    """``nginx -t`` on the nginx service's configuration (API hosts stood in by 127.0.0.1)."""
    if proxyconf.nginx_binary() is None:
        click.secho("warning: nginx is not installed; its configuration was not checked",
                    fg="yellow", err=True)
        return
    try:
        proxyconf.check(proxyconf.settings_for(app, upstreams=("127.0.0.1:8080",)))
    except proxyconf.ProxyConfError as exc:
        _fail(str(exc))
    click.echo("nginx configuration (core-server nginx) is valid", err=True)


# --- database migrations of plugins (library code in core_server/tdp/migrations.py) ---------


@main.group()
def db() -> None:
    """Alembic migrations of plugin databases (tdp-sql-database-migration extensions)."""


def _migrations(config_file: str | None, plugins_dirs: tuple[str, ...], data_dir: str | None,
                strict: bool | None) -> Migrations:
    # the commands decide what runs: no automatic upgrade while the app is built
    app = build_app(config_file, plugins_dirs, data_dir, strict,
                    {"tdp": {"migrations": {"upgrade_at_start": False}}})
    return migrations_of(app)


def _selected(migrations: Migrations, migration_id: str | None) -> list[str]:
    if migration_id in (None, "all"):
        return list(migrations.items)
    try:
        return [migrations.get(str(migration_id)).id]
    except MigrationError as exc:
        _fail(str(exc))


def _each(migrations: Migrations, ids: list[str], action: Callable[[str], None]) -> None:
    failed = 0
    for migration_id in ids:
        try:
            action(migration_id)
        except MigrationError as exc:
            failed += 1
            click.secho(f"error: {exc}", fg="red", err=True)
    if failed:
        sys.exit(1)


def _revisions(heads: list[str]) -> str:
    return ", ".join(heads) or "(none)"


def _move(migrations: Migrations, ids: list[str], verb: str,
          command: Callable[..., list[str]], revision: str) -> None:
    def move(migration_id: str) -> None:
        click.echo(f"{migration_id}: {verb} to {revision}")
        heads = command(migration_id, revision, progress=lambda line: click.echo(f"  {line}"))
        click.echo(f"{migration_id}: at {_revisions(heads)}")

    _each(migrations, ids, move)


@db.command("list")
@app_options
def db_list(config_file: str | None, plugins_dirs: tuple[str, ...], data_dir: str | None,
            strict: bool | None) -> None:
    """List the migrations: id, plugin, connector, script folder, autoUpgrade."""
    migrations = _migrations(config_file, plugins_dirs, data_dir, strict)
    if not migrations.items:
        click.echo("no migrations (tdp-sql-database-migration extensions add them)")
    for item in migrations.items.values():
        click.echo(f"{item.id} (plugin {item.plugin}) db={item.db_key or 'dbUrl'} "
                   f"autoUpgrade={str(item.auto_upgrade).lower()} {item.script_location}")


@db.command("current")
@app_options
@click.argument("migration_id", required=False)
def db_current(config_file: str | None, plugins_dirs: tuple[str, ...], data_dir: str | None,
               strict: bool | None, migration_id: str | None) -> None:
    """Show the revision each database is at, and the head revision of its scripts."""
    migrations = _migrations(config_file, plugins_dirs, data_dir, strict)
    _each(migrations, _selected(migrations, migration_id), lambda m: click.echo(
        f"{m}: {_revisions(migrations.current(m))} (head {_revisions(migrations.heads(m))})"))


@db.command("upgrade")
@app_options
@click.argument("migration_id", required=False)
@click.argument("revision", default="head")
def db_upgrade(config_file: str | None, plugins_dirs: tuple[str, ...], data_dir: str | None,
               strict: bool | None, migration_id: str | None, revision: str) -> None:
    """Upgrade one migration (or all) to REVISION (default head)."""
    migrations = _migrations(config_file, plugins_dirs, data_dir, strict)
    _move(migrations, _selected(migrations, migration_id), "upgrading", migrations.upgrade,
          revision)


@db.command("downgrade")
@app_options
@click.argument("migration_id")
@click.argument("revision", default="-1")
def db_downgrade(config_file: str | None, plugins_dirs: tuple[str, ...], data_dir: str | None,
                 strict: bool | None, migration_id: str, revision: str) -> None:
    """Downgrade one migration to REVISION (default -1: one step; base: all the way)."""
    migrations = _migrations(config_file, plugins_dirs, data_dir, strict)
    _move(migrations, _selected(migrations, migration_id), "downgrading", migrations.downgrade,
          revision)


@db.command("history")
@app_options
@click.argument("migration_id", required=False)
def db_history(config_file: str | None, plugins_dirs: tuple[str, ...], data_dir: str | None,
               strict: bool | None, migration_id: str | None) -> None:
    """List the revisions of the scripts, newest first."""
    migrations = _migrations(config_file, plugins_dirs, data_dir, strict)

    def history(m: str) -> None:
        click.echo(f"{m}:")
        for rev in migrations.history(m):
            head = " (head)" if rev["head"] else ""
            click.echo(f"  {rev['down_revision'] or '<base>'} -> {rev['revision']}{head}, "
                       f"{rev['message']}")

    _each(migrations, _selected(migrations, migration_id), history)
