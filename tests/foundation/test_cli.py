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
