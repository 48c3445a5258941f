"""The docs: they build without warnings, cover every type/setting/route, and the tutorial runs."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from core_server.app import create_app
from core_server.cli import main
from core_server.config import SETTINGS
from core_server.openapi import build_spec
from core_server.registry import ALIASES
from core_server.registry import EXTENSION_TYPES

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
BIN = Path(sys.executable).parent


# --- the built site ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Build the docs with warnings as errors; the text of each page by name."""
    out = tmp_path_factory.mktemp("html")
    result = subprocess.run([str(BIN / "sphinx-build"), "-W", "--keep-going", "-q", "-b", "html",
                             "-d", str(out / ".doctrees"), str(DOCS), str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    pages = {}
    for page in out.glob("*.html"):
        text = re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8"))
        pages[page.stem] = re.sub(r"\s+", " ", html.unescape(text))
    return pages


def test_every_setting_is_in_the_configuration_reference(site) -> None:
    for setting in SETTINGS:
        assert setting.key in site["configuration"], setting.key
        assert f"CORE_SERVER__{setting.key.replace('.', '__')}" in site["configuration"]
        assert setting.help.split(";")[0][:40] in site["configuration"], setting.key


def _core_routes(tmp_path: Path) -> tuple[list[str], dict]:
    app = create_app({}, plugins_dirs=[], data_dir=tmp_path, entry_points=False)
    routes = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.endpoint != "static" and view.__module__.startswith("core_server"):
            routes.add(re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule))
    return sorted(routes), build_spec(app)


def test_every_core_route_is_documented(site, tmp_path: Path) -> None:
    routes, spec = _core_routes(tmp_path)
    assert "/api/_health" in routes
    text = " ".join(site.values())
    # the TDP alias /api/tdp/db/... is documented once, as such
    routes = [r.replace("/api/tdp/db/", "/api/db/") for r in routes]
    missing = [r for r in routes if r not in text and r.rstrip("/") not in text]
    assert missing == [], "routes missing from docs/api.rst (document them, or in OpenAPI)"
    for path, item in spec["paths"].items():
        for method in item:
            assert f"{method.upper()} {path}" in site["api"], (method, path)


def test_every_command_is_in_the_cli_reference(site) -> None:
    for name, command in main.commands.items():
        assert f"core-server {name}" in site["cli"], name
        first_line = (command.help or "").splitlines()[0]
        assert first_line[:40] in site["cli"], name


def test_extension_types_have_one_heading_each() -> None:
    lines = (DOCS / "extensions.rst").read_text().splitlines()
    headings = [lines[i].strip("`") for i in range(len(lines) - 1)
                if lines[i] and re.fullmatch(r"-{3,}", lines[i + 1])
                and len(lines[i + 1]) == len(lines[i])]
    assert headings == list(EXTENSION_TYPES)
    text = "\n".join(lines)
    for alias in ALIASES:
        assert f"``{alias}``" in text, alias


def test_readme_commands_are_in_the_quickstart() -> None:
    quickstart = (DOCS / "quickstart.rst").read_text()
    readme = (REPO / "README.md").read_text()
    for command in ("make run", "make test"):
        assert command in readme and command in quickstart


# --- the tutorial -----------------------------------------------------------------------------


@dataclass
class Step:
    """One thing the tutorial tells the reader to do."""

    kind: str  # command, write, append, generated
    text: str
    path: str = ""
    language: str = ""
    requires: str | None = None


def tutorial_steps(text: str) -> list[Step]:
    """Console commands and captioned files of the tutorial, in order."""
    lines = text.splitlines()
    steps: list[Step] = []
    requires = None
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if match := re.match(r"\.\. tutorial-requires: (\S+)", line):
            requires = match.group(1)
        if not (match := re.match(r"\.\. code-block:: (\w+)", line)):
            continue
        language, caption = match.group(1), ""
        while index < len(lines) and lines[index].strip().startswith(":"):
            if lines[index].strip().startswith(":caption:"):
                caption = lines[index].split(":caption:", 1)[1].strip()
            index += 1
        body = []
        while index < len(lines) and (not lines[index].strip() or lines[index].startswith("   ")):
            body.append(lines[index])
            index += 1
        content = textwrap.dedent("\n".join(body)).strip("\n") + "\n"
        steps.extend(_steps_of(language, caption, content, requires))
    return steps


def _steps_of(language: str, caption: str, content: str, requires: str | None) -> list[Step]:
    if language == "console":
        return [Step("command", line[2:], requires=requires)
                for line in content.splitlines() if line.startswith("$ ")]
    if not caption:
        return []
    path, _, mode = caption.partition(" ")
    kind = {"(append)": "append", "(generated)": "generated", "": "write"}[mode]
    return [Step(kind, content, path, language, requires)]


class TutorialRun:
    """Carry out tutorial steps in a folder, as a reader would in a shell."""

    def __init__(self, root: Path) -> None:
        self.cwd = root
        self.port = 0
        self.server: subprocess.Popen[bytes] | None = None
        self.outputs: list[tuple[str, str]] = []
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("CORE_SERVER__")
                    and k not in ("CORE_SERVER_PLUGINS_DIR", "CORE_SERVER_CONFIG")}
        self.env["PATH"] = f"{BIN}{os.pathsep}{self.env.get('PATH', '')}"
        # as for a reader: the repo's finished TDP tutorial plugin (myserverplugin, installed in
        # this venv) is discovered beside the reader's new plugin, whose names differ

    def do(self, step: Step) -> None:
        if step.kind == "command":
            self.command(step.text)
            return
        target = self.cwd / step.path
        if step.kind == "write":
            target.write_text(step.text)
        elif step.kind == "append":
            target.write_text(target.read_text().rstrip("\n") + "\n" + step.text)
        elif step.language == "json":
            assert json.loads(target.read_text()) == json.loads(step.text), step.path
        else:
            assert target.read_text() == step.text, step.path

    def command(self, command: str) -> None:
        if command.startswith("cd "):
            self.cwd = (self.cwd / command[3:].strip()).resolve()
            assert self.cwd.is_dir(), command
            return
        if command.startswith("core-server serve"):
            self.serve(command)
            return
        command = command.replace("127.0.0.1:8080", f"127.0.0.1:{self.port}")
        if command.startswith("curl ") and shutil.which("curl") is None:
            url = command.split()[-1]
            command = (f"{BIN / 'python'} -c "
                       f"'import urllib.request; urllib.request.urlopen({url!r})'")
        result = subprocess.run(command, shell=True, cwd=self.cwd, env=self.env,
                                capture_output=True, text=True, timeout=600)
        self.outputs.append((command, result.stdout))
        assert result.returncode == 0, f"$ {command}\n{result.stdout}\n{result.stderr}"

    def serve(self, command: str) -> None:
        self.port = _free_port()
        self.server = subprocess.Popen(f"{command} --host 127.0.0.1 --port {self.port}",
                                       shell=True, cwd=self.cwd, env=self.env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.server.poll() is None, f"{command} exited with {self.server.returncode}"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/_health", timeout=2)
                return
            except OSError:
                time.sleep(0.1)  # polling a starting server
        pytest.fail(f"{command} did not answer within 60 s")

    def stop(self) -> None:
        if self.server is not None:
            os.killpg(self.server.pid, 15)
            self.server.wait(timeout=30)


def _free_port() -> int:
    for port in range(18450, 18500):  # this project's test range is 18400-18499
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port in 18450-18499")


@pytest.fixture
def tutorial(tmp_path: Path):
    run = TutorialRun(tmp_path)
    yield run
    run.stop()


TUTORIAL_TEXT = (DOCS / "tutorial.rst").read_text()
STEPS = tutorial_steps(TUTORIAL_TEXT)


def test_tutorial_parsing_finds_every_step() -> None:
    kinds = [s.kind for s in STEPS]
    assert kinds.count("command") >= 15 and {"write", "append", "generated"} <= set(kinds)
    assert STEPS[0].text == "mkdir workspace"
    assert any(s.requires for s in STEPS) and not STEPS[0].requires
    files: dict[str, str] = {}
    for step in STEPS:
        if step.kind in ("write", "append"):
            files[step.path] = files.get(step.path, "") + step.text
            compile(files[step.path], step.path, "exec")  # every file is valid Python as written


def test_tutorial_until_it_needs_sql_views(tutorial: TutorialRun) -> None:
    """The first part runs on every branch: create, test, list and extend the plugin."""
    if all(_importable(s.requires) for s in STEPS if s.requires):
        pytest.skip("test_the_whole_tutorial runs these steps too")
    first = [s for s in STEPS if s.requires is None]
    for step in first:
        tutorial.do(step)
    listing = dict(tutorial.outputs)["core-server plugins"]
    assert "myplugin 0.1.0 [loaded]" in listing and "myplugin_hello" in listing
    tests = next(out for command, out in tutorial.outputs if command == "pytest")
    assert "4 passed" in tests


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_the_whole_tutorial(tutorial: TutorialRun) -> None:
    """Every step, to a plugin serving its own views; needs the SQL views subsystem."""
    for module in {s.requires for s in STEPS if s.requires}:
        pytest.importorskip(module)
    for step in STEPS:
        tutorial.do(step)
    runs = [out for command, out in tutorial.outputs if command == "pytest"]
    assert len(runs) == 3 and "failed" not in runs[-1]
    assert (tutorial.cwd / "docker-compose.yml").is_file()
    # the row the tutorial quotes is the first row the reader's server answers
    quoted = re.search(r"answers rows like ``(\{.*?\})``", TUTORIAL_TEXT, re.S)
    assert quoted is not None
    rows = next(out for command, out in tutorial.outputs if command.endswith("/labdb/mytable"))
    assert json.loads(rows)[0] == json.loads(quoted.group(1).replace("\n", " "))
