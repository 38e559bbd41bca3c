"""One error format for every ``infersight`` subcommand: ``infersight <command>: error: <message>``.

One line on stderr (control and bidi characters shown as escapes: messages quote telemetry
names), then the exit code of :mod:`infersight._errors`' map. ``--debug`` (where a command has
it) re-raises instead, so the traceback shows.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from infersight._errors import EXIT_BAD_INPUT, EXIT_FAILED, InfersightError

# C0 controls but tab, DEL, C1 controls, zero-width and bidi formatting characters, separators
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def clean(value: object) -> str:
    """``str(value)`` on one line, every control/bidi character shown as an escape."""
    return _UNSAFE.sub(_escape, "" if value is None else str(value))


def exit_code(exc: BaseException) -> int:
    """The exit code for ``exc``: its ``exit_code`` for infersight's errors, 2 for an OSError on a
    path the user gave, 1 for anything else."""
    if isinstance(exc, InfersightError):
        return int(exc.exit_code)
    if isinstance(exc, OSError):
        return EXIT_BAD_INPUT
    return EXIT_FAILED


def error_line(command: str, exc: BaseException | str) -> str:
    """``infersight <command>: error: <message>`` (a message of several lines joined into one)."""
    if isinstance(exc, BaseException):
        msg = str(exc).strip() or type(exc).__name__
        if not isinstance(exc, (InfersightError, OSError)):
            msg = f"{type(exc).__name__}: {msg} (run with --debug for details)"
    else:
        msg = exc
    one = " ".join(line.strip() for line in msg.splitlines() if line.strip()) or msg
    prefix = f"infersight {command}" if command else "infersight"
    return f"{prefix}: error: {clean(one)}"


def fail(command: str, exc: BaseException, *, code: int | None = None) -> SystemExit:
    """Print :func:`error_line` to stderr; return the ``SystemExit`` to raise (``raise fail(...)``).

    ``SystemExit``, not ``typer.Exit``: the top-level shell is plain click and does not know typer's.
    """
    sys.stderr.write(error_line(command, exc) + "\n")
    sys.stderr.flush()
    return SystemExit(exit_code(exc) if code is None else code)


@contextmanager
def cli_errors(command: str, *, debug: bool = False, catch_all: bool = False) -> Iterator[None]:
    """Turn infersight's errors (and OSErrors; with ``catch_all`` any Exception) raised inside into
    one line on stderr and the mapped exit code; with ``debug`` they propagate unchanged."""
    try:
        yield
    except (InfersightError, OSError) as exc:
        if debug:
            raise
        raise fail(command, exc) from None
    except Exception as exc:
        if debug or not catch_all:
            raise
        raise fail(command, exc) from None


__all__ = ["clean", "cli_errors", "error_line", "exit_code", "fail"]
