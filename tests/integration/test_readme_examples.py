"""README's examples, replayed top to bottom against a fresh service started by `./scripts/serve`: every
console command runs (curl and `carbon`) and prints what README shows, and every Python snippet runs with
its commented results checked. A block README marks `<!-- readme-examples: skip (why) -->` is left out.

What README prints is compared with whitespace removed; `...` in it stands for any text. The service and
the commands use no CARBON_DATA_DIR: both find the ledger in the per-user data directory (here under a
temporary XDG_DATA_HOME), as they do for a newcomer. Commands run in a temporary folder that holds links to
the checkout's files, so files they write stay out of the checkout; `./scripts/...` lines (setting up
.venv, starting the service) are what the test itself has done.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.serverproc import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCUMENTED = "http://127.0.0.1:8000"
SKIP = re.compile(r"<!--\s*readme-examples:\s*skip\b")
FENCE = re.compile(r"^```(\w*)\s*$")

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


@dataclass(frozen=True)
class Example:
    """One console command or one Python snippet, with what README says it prints."""

    kind: str  # "console" or "python"
    line: int
    code: str
    printed: str = ""


def examples(text: str) -> list[Example]:
    """The runnable examples of README, in order."""
    found: list[Example] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        skipped = i > 0 and bool(SKIP.search(lines[i - 1]))
        body = lines[i + 1 : end]
        if not skipped and fence.group(1) == "console":
            found.extend(_commands(body, i + 2))
        elif not skipped and fence.group(1) == "python":
            found.append(Example("python", i + 2, "\n".join(body)))
        i = end + 1
    return found


def _commands(body: list[str], first: int) -> Iterator[Example]:
    """`$ command` lines (continued while a quote is open or a line ends in a backslash) and the lines they
    print, up to the next command."""
    i = 0
    while i < len(body):
        if not body[i].startswith("$ "):
            i += 1
            continue
        start, command = i, body[i][2:]
        while command.endswith("\\") or not _complete(command):
            i += 1
            command += "\n" + body[i]
        i += 1
        printed: list[str] = []
        while i < len(body) and not body[i].startswith("$ "):
            printed.append(body[i])
            i += 1
        yield Example("console", first + start, command, "\n".join(printed))


def _complete(command: str) -> bool:
    try:
        shlex.split(command, comments=True)
    except ValueError:  # an open quote: the command goes on on the next line
        return False
    return True


def matches(printed: str, actual: str) -> bool:
    """README's text, whitespace aside, with `...` standing for anything."""
    squeeze = re.compile(r"\s+")
    parts = [re.escape(part) for part in squeeze.sub("", printed).split("...")]
    return re.fullmatch(".*?".join(parts), squeeze.sub("", actual), re.DOTALL) is not None


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder like a fresh clone: links to the checkout's files, no ledger anywhere yet."""
    folder = tmp_path_factory.mktemp("readme")
    work = folder / "work"
    work.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in (".git", ".venv", "data", "test-artifacts") and not entry.name.startswith("."):
            (work / entry.name).symlink_to(entry)
    return work


@pytest.fixture(scope="module")
def environment(workspace: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARBON_")}
    env["XDG_DATA_HOME"] = str(workspace.parent / "xdg")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["CARBON_JSON_LOGS"] = "false"
    return env


@pytest.fixture(scope="module")
def service(environment: dict[str, str], workspace: Path) -> Iterator[str]:
    """`./scripts/serve` on a free loopback port, as README's first command starts it."""
    port = free_port()
    log = (workspace.parent / "serve.log").open("wb")
    process = subprocess.Popen([str(ROOT / "scripts" / "serve"), "--port", str(port)], env=environment,
                               stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # the script may set up .venv first
        while True:
            assert process.poll() is None, (workspace.parent / "serve.log").read_text()
            assert time.monotonic() < deadline, "the service did not become ready"
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        finally:
            log.close()


def test_readme_names_examples_to_replay() -> None:
    found = examples(README.read_text(encoding="utf-8"))
    assert sum(1 for e in found if e.kind == "console" and "curl" in e.code) >= 5
    assert sum(1 for e in found if e.kind == "python") >= 2


@pytest.mark.slow
def test_every_readme_example_prints_what_readme_shows(
    service: str, environment: dict[str, str], workspace: Path
) -> None:
    failures: list[str] = []
    namespace: dict[str, Any] = {}
    for example in examples(README.read_text(encoding="utf-8")):
        code = example.code.replace(DOCUMENTED, service)
        if code.startswith("./scripts/"):
            continue  # setting up .venv and starting the service: this test has done both
        if example.kind == "python":
            failures += run_python(code, example.line, workspace, namespace)
            continue
        done = subprocess.run(["bash", "-c", code], cwd=workspace, env=environment, capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip
        if done.returncode != 0:
            failures.append(f"README line {example.line}: exit {done.returncode}: {done.stderr.strip()}")
        elif example.printed and not matches(example.printed, done.stdout):
            failures.append(
                f"README line {example.line}: printed\n{done.stdout}\nREADME shows\n{example.printed}"
            )
    assert failures == [], "\n\n".join(failures)


def run_python(code: str, line: int, workspace: Path, namespace: dict[str, Any]) -> list[str]:
    """Run a snippet in the workspace; a statement whose line ends in `# <value>` must give that value
    (its repr, or its type's name), and prose comments are left alone."""
    failures: list[str] = []
    source_lines = code.splitlines()

    def check(value: Any, end_line: int) -> Any:
        comment = source_lines[end_line - 1].partition("#")[2].strip()
        expected = re.split(r"\s+\(|\s{2,}", comment)[0].strip()
        shown_as_value = re.match(r"^([-\d'\"]|[A-Za-z_][\w.]*\()", expected)
        if shown_as_value and repr(value) != expected:
            failures.append(f"README line {line + end_line - 1}: gives {value!r}, README says {expected}")
        elif expected in {"bytes", "str", "int", "dict"} and type(value).__name__ != expected:
            failures.append(f"README line {line + end_line - 1}: gives a {type(value).__name__}")
        return value

    tree = ast.parse(code)
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            statements = getattr(node, field, None)
            if isinstance(statements, list):
                setattr(node, field, [_checked(s) for s in statements])
    ast.fix_missing_locations(tree)
    cwd = Path.cwd()
    os.chdir(workspace)
    try:
        exec(compile(tree, f"README.md:{line}", "exec"), {**namespace, "__readme_check__": check})
    except Exception as error:  # any failure of the snippet is a README failure
        failures.append(f"README line {line}: {type(error).__name__}: {error}")
    finally:
        os.chdir(cwd)
    return failures


def _checked(statement: ast.stmt) -> ast.stmt:
    """`expr` becomes `__readme_check__(expr, its last line)`."""
    if not isinstance(statement, ast.Expr) or isinstance(statement.value, ast.Constant):
        return statement
    call = ast.Call(ast.Name("__readme_check__", ast.Load()),
                    [statement.value, ast.Constant(statement.end_lineno)], [])  # fmt: skip
    return ast.copy_location(ast.Expr(call), statement)
