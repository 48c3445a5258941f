"""The nginx configuration in front of core_server (``core-server nginx``).

One Jinja2 template (``nginx.conf.j2`` beside this module) rendered from :class:`NginxSettings`:
buffering of requests and responses, timeouts for slow clients, ``X-Forwarded-*`` set (never
appended), gzip for JSON/CSV, JSON error pages of the proxy itself and, for every static folder
the app serves (the browse UI's, any blueprint's), a ``location`` that nginx serves from disk.
:func:`check` runs ``nginx -t`` on a rendering.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path

from flask import Flask
from jinja2 import Environment
from jinja2 import FileSystemLoader
from jinja2 import StrictUndefined

TEMPLATE = "nginx.conf.j2"
MIME_TYPES = Path("/etc/nginx/mime.types")
#: The proxy's own errors: (status, code, message); codes as in core_server.errors.
ERRORS = (
    (408, "request_timeout", "the request was not received in time"),
    (413, "payload_too_large", "the request body is too large"),
    (414, "uri_too_long", "the request URI is too long"),
    (431, "headers_too_large", "the request headers are too large"),
    (502, "bad_gateway", "no API host answered; try again"),
    (504, "timeout", "the API host did not answer in time"),
)


class ProxyConfError(Exception):
    """The rendered configuration is not accepted by ``nginx -t`` (the message has its output)."""


@dataclass(frozen=True)
class StaticMount:
    """A URL prefix nginx serves from a folder (``location ^~ url { alias directory/; }``)."""

    url: str
    directory: str


@dataclass(frozen=True)
class NginxSettings:
    """What the template needs; the defaults are the production ones (docs/deployment.rst)."""

    upstreams: tuple[str, ...] = ("api:8080",)
    listen: str = "8080"
    run_dir: str = "/tmp/core_server-nginx"
    static: tuple[StaticMount, ...] = ()
    client_max_body_size: int = 16 * 1024 * 1024
    #: seconds a client may pause while sending headers or body (then 408)
    client_timeout: int = 10
    send_timeout: int = 30
    connect_timeout: int = 2
    #: seconds the API may take; match gunicorn's timeout
    upstream_timeout: int = 120
    fail_timeout: int = 5
    next_upstream_tries: int = 3
    prefix: str = ""
    worker_processes: str = "auto"
    worker_connections: int = 4096
    error_log: str = "stderr"
    access_log: str = "off"


def static_mounts(app: Flask) -> tuple[StaticMount, ...]:
    """A mount for every static route of ``app`` whose folder exists (app and blueprints)."""
    mounts = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static" and not rule.endpoint.endswith(".static"):
            continue
        name = rule.endpoint.rpartition(".")[0]
        folder = app.blueprints[name].static_folder if name else app.static_folder
        url = rule.rule.partition("<")[0]
        if folder and Path(folder).is_dir() and url.endswith("/"):
            mounts.append(StaticMount(url, str(Path(folder).resolve())))
    return tuple(sorted(mounts, key=lambda m: m.url))


def _others_can_enter(folder: Path) -> bool:
    return all(above.stat().st_mode & stat.S_IXOTH for above in folder.parents)


def _others_can_read(folder: Path) -> bool:
    # what nginx's workers need when they run as another user than the files' owner: every
    # folder above searchable, the folder's tree readable (and its folders searchable)
    if not _others_can_enter(folder):
        return False
    for path in (folder, *folder.rglob("*")):
        mode = path.stat().st_mode
        need = stat.S_IROTH | stat.S_IXOTH if stat.S_ISDIR(mode) else stat.S_IROTH
        if mode & need != need:
            return False
    return True


def readable_static(settings: NginxSettings,
                    as_root: bool | None = None) -> tuple[NginxSettings, list[str]]:
    """``settings`` with static folders that nginx's workers could not read copied into the
    run dir, and a note for each copy.

    nginx started as root serves files as its unprivileged worker user (``nobody``); a checkout
    below a private folder (a 0700 home or ``mktemp -d``) would answer 403 for every file. Not
    started as root, the workers are this user and read what it reads: nothing is copied.
    """
    if not (os.geteuid() == 0 if as_root is None else as_root):
        return settings, []
    mounts, notes = [], []
    for index, mount in enumerate(settings.static):
        source = Path(mount.directory)
        if _others_can_read(source):
            mounts.append(mount)
            continue
        copy = Path(settings.run_dir, "static", str(index))
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(source, copy, copy_function=shutil.copyfile)
        for path in (copy.parent, copy, *copy.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)
        mounts.append(StaticMount(mount.url, str(copy)))
        notes.append(f"{source} is not readable by nginx's worker user: {mount.url} is served "
                     f"from a copy in {copy} (made at start)")
        if not _others_can_enter(copy):  # the copy's own tree was just made readable
            notes.append(f"{copy} is not readable by nginx's worker user either: "
                         "give --run-dir a folder that others can enter (e.g. below /tmp)")
    return replace(settings, static=tuple(mounts)), notes


def render(settings: NginxSettings) -> str:
    """The nginx.conf text for ``settings``."""
    env = Environment(loader=FileSystemLoader(Path(__file__).parent), undefined=StrictUndefined,
                      keep_trailing_newline=True, autoescape=False)
    template = env.get_template(TEMPLATE)
    mime = str(MIME_TYPES) if MIME_TYPES.is_file() else ""
    for upstream in settings.upstreams:
        if not re.fullmatch(r"[A-Za-z0-9_.:\[\]-]+", upstream):
            raise ProxyConfError(f"not an upstream address: {upstream!r} (host:port)")
    return template.render(**vars(settings), mime_types=mime, errors=ERRORS)


def nginx_binary() -> str | None:
    """The nginx executable on PATH or in /usr/sbin (Debian), None if not installed."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def check(settings: NginxSettings, nginx: str | None = None) -> str:
    """Render ``settings`` and run ``nginx -t`` on it; return nginx's report.

    Host names of upstreams must resolve where this runs (nginx resolves them at start).
    :raises ProxyConfError: nginx rejects the configuration or is not installed.
    """
    binary = nginx or nginx_binary()
    if binary is None:
        raise ProxyConfError("nginx is not installed (Debian: apt-get install nginx-light)")
    with tempfile.TemporaryDirectory(prefix="core_server-nginx-") as tmp:
        settings = replace(settings, run_dir=tmp, error_log="stderr")
        conf = Path(tmp, "nginx.conf")
        conf.write_text(render(settings), encoding="utf-8")
        result = subprocess.run([binary, "-t", "-q", "-c", str(conf), "-p", tmp,
                                 "-e", "stderr"], capture_output=True, text=True, timeout=30)
    report = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise ProxyConfError(f"nginx -t rejects the configuration:\n{report}")
    return report


def write(settings: NginxSettings) -> Path:
    """Render into ``settings.run_dir/nginx.conf`` (creating the run dir) and return the path."""
    run_dir = Path(settings.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    conf = run_dir / "nginx.conf"
    conf.write_text(render(settings), encoding="utf-8")
    return conf


def exec_nginx(conf: Path, nginx: str | None = None) -> None:
    """Replace this process with nginx in the foreground (signals reach nginx directly)."""
    binary = nginx or nginx_binary()
    if binary is None:
        raise ProxyConfError("nginx is not installed (Debian: apt-get install nginx-light)")
    os.execv(binary, [binary, "-c", str(conf), "-p", str(conf.parent), "-e", "stderr",
                      "-g", "daemon off;"])


def settings_for(app: Flask, **options: object) -> NginxSettings:
    """Settings for ``app``: its static folders and body limit, then ``options`` (not None)."""
    config = app.extensions["core_server"].config
    base = NginxSettings(static=static_mounts(app),
                         client_max_body_size=config.get_int("core_server.max_content_length"))
    given = {key: value for key, value in options.items() if value is not None}
    return replace(base, **given)  # type: ignore[arg-type]
