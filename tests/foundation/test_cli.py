"""The CLI shell: version, help, errors (real subprocesses of the installed console script)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from infersight import __version__
from infersight.cli import COMMANDS

EXE = Path(sys.executable).parent / "infersight"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=60)


def test_version() -> None:
    res = run("--version")
    assert res.returncode == 0
    assert res.stdout.strip() == f"infersight {__version__}"


def test_help_lists_every_registered_subcommand() -> None:
    res = run("--help")
    assert res.returncode == 0
    for name in COMMANDS:
        assert name in res.stdout


def test_unknown_subcommand_is_one_clear_error_exit_2() -> None:
    res = run("frobnicate")
    assert res.returncode == 2
    assert "No such command 'frobnicate'" in res.stderr
    assert "Traceback" not in res.stderr


def test_bad_option_exit_2() -> None:
    res = run("--no-such-option")
    assert res.returncode == 2
    assert "No such option" in res.stderr


def test_every_registered_subcommand_loads_and_has_help() -> None:
    # Each part registers its command; `infersight X --help` must work for all of them.
    for name in COMMANDS:
        res = run(name, "--help")
        assert res.returncode == 0, (name, res.stderr[-2000:])
        assert "Usage" in res.stdout


def test_dash_h_works_like_help_everywhere() -> None:
    # `-h` used to work only at the top level
    for args in (["-h"], *([name, "-h"] for name in COMMANDS), ["demo", "serve", "-h"], ["demo", "incident", "-h"],
                 ["dashboards", "preview", "-h"]):
        res = run(*args)
        assert res.returncode == 0, (args, res.stderr[-2000:])
        assert "Usage" in res.stdout and "-h" in res.stdout, args


def test_collect_help_names_the_web_ui() -> None:
    res = run("collect", "-h")
    assert res.returncode == 0
    assert "--no-ui" in res.stdout and "/ui" in res.stdout


def test_a_missing_extra_still_answers_help(tmp_path: Path) -> None:
    # `infersight collect --help` failed until the [collector] extra was installed: now the help
    # says what the command does and what to install, and running it names the extra (exit 2)
    code = ("import sys, builtins\n"
            "real = builtins.__import__\n"
            "def fake(name, *a, **k):\n"
            "    if name == 'duckdb' or name.startswith('duckdb.'):\n"
            "        raise ModuleNotFoundError(\"No module named 'duckdb'\", name='duckdb')\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = fake\n"
            "from infersight.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    res = subprocess.run([sys.executable, "-c", code, "collect", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert "Run the OTLP receiver" in res.stdout and "pip install" in res.stdout and "[collector]" in res.stdout
    res = subprocess.run([sys.executable, "-c", code, "collect", "--db", str(tmp_path / "x.duckdb")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "[collector] extra" in res.stderr and "Traceback" not in res.stderr
