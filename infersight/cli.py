"""The ``infersight`` command line: a thin shell that loads each part lazily.

``infersight --help`` imports none of the parts (so never duckdb or numpy); a subcommand's
module is imported only when that subcommand runs. Each part owns its commands in its own
``cli`` module and exposes a ``typer.Typer`` (or a click command); this file only names them,
and joins parts where a command needs two of them (``collect`` serves the collector with the
web UI of ``infersight.ui`` mounted at /ui). ``-h`` works like ``--help`` everywhere, and
``infersight X --help`` still answers (with the pip command to run) when X's extra is missing.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from infersight._version import __version__

# name -> (module:attribute, extra that provides it, one-line help shown by --help);
# "module:function()" calls the function to get the command
COMMANDS: dict[str, tuple[str, str, str]] = {
    "collect": ("infersight.cli:collect_with_ui()", "collector",
                "Run the OTLP receiver (HTTP 4318, gRPC 4317) storing into DuckDB; web UI at /ui."),
    "import": ("infersight.collectors.cli:import_app", "collector",
               "Import OTLP JSON/protobuf files or Jaeger JSON traces into DuckDB."),
    "export": ("infersight.collectors.cli:export_app", "collector",
               "Export a DuckDB telemetry file to partitioned Parquet."),
    "diagnose": ("infersight.analysis.cli:diagnose_app", "analysis",
                 "Name the root cause of latency/cost problems in a telemetry DB."),
    "demo": ("infersight.demo.cli:demo_app", "demo",
             "Reference model server with switchable faults, load generator, scenarios."),
    "dashboards": ("infersight.analysis.dashboards_cli:dashboards_app", "dashboards",
                   "Preview Grafana dashboards as PNGs from a live Prometheus."),
    "probe": ("infersight._probe_cli:probe_command", "",
              "Probe a server's /healthz at 10 Hz; client-side latency as OTLP CLIENT spans."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        return _load(cmd_name, *spec)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # `infersight --help` lists commands from the table without importing any part.
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}


def collect_with_ui() -> Any:
    """``infersight collect`` with the web UI (``infersight.ui``) mounted at ``/ui``.

    The collectors part never imports the UI (the UI reads analysis); this shell is the one
    module that knows both, so it hands the UI to the collector here.
    """
    from infersight.collectors.cli import build_collect_app

    def mounts() -> dict[str, Any]:
        try:
            from infersight.ui import mount
        except ImportError as exc:
            logging.getLogger(__name__).warning(
                "web UI off: %s is missing (pip install 'infersight[collector]')", exc.name or exc)
            return {}
        return {"/ui": mount}

    return build_collect_app(mounts)


class _Missing(click.Command):
    """Stands for a command whose extra is not installed: ``--help`` says what it does and what to
    install (exit 0); running it is a usage error naming the extra (exit 2)."""

    def __init__(self, name: str, help_text: str, message: str) -> None:
        super().__init__(name, help=help_text, context_settings={"ignore_unknown_options": True,
                                                                 "allow_extra_args": True},
                         params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)])
        self._message = message

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[OPTIONS]")
        self.format_help_text(ctx, formatter)
        with formatter.section("Not installed"):
            formatter.write_text(self._message)

    def invoke(self, ctx: click.Context) -> Any:
        raise click.UsageError(self._message)


def _install_hint(extra: str) -> str:
    wheel, local = (f"infersight[{extra}]", f".[{extra}]") if extra else ("infersight", ".")
    return f"pip install '{wheel}' (from a checkout: pip install -e '{local}', or 'make install')"


def _load(name: str, target: str, extra: str, help_text: str) -> click.Command:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        obj: Any = getattr(module, attr.removesuffix("()"))
        if attr.endswith("()"):
            obj = obj()
    except ImportError as exc:
        if (exc.name or "").startswith("infersight"):
            return _Missing(name, help_text, f"'infersight {name}' is not available in this build ({exc})")
        what = f"the [{extra}] extra" if extra else "the base install"
        return _Missing(name, help_text, f"'infersight {name}' needs {what} "
                                         f"({exc.name or exc} is missing): {_install_hint(extra)}")
    except AttributeError:
        raise click.UsageError(f"'infersight {name}' is not available in this build") from None
    if isinstance(obj, click.Command):
        cmd = obj
        cmd.name = name
        if not cmd.help:
            cmd.help = help_text
        return cmd
    return _Delegate(name, obj, help_text)


class _Delegate(click.Command):
    """Hands the raw arguments to a part's typer app, which parses and reports its own errors.

    typer ships its own copy of click, whose exceptions (help, usage errors) the shell's click
    would not recognise; so the part's app runs standalone and its exit code is passed through.
    """

    def __init__(self, name: str, app: Any, help_text: str) -> None:
        super().__init__(name, help=help_text, add_help_option=False,
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
                         params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)])
        self._app = app

    def invoke(self, ctx: click.Context) -> Any:
        import typer.main

        command = typer.main.get_command(self._app)
        command.context_settings = {**HELP_OPTIONS, **(command.context_settings or {})}
        parent = ctx.parent.info_name if ctx.parent else "infersight"
        command.main(args=list(ctx.params["args"]), prog_name=f"{parent} {self.name}",
                     standalone_mode=True)


@click.group(cls=_LazyGroup, context_settings=HELP_OPTIONS)
@click.version_option(__version__, "--version", "-V", prog_name="infersight", message="%(prog)s %(version)s")
def cli() -> None:
    """infersight — find out why your model server is slow or expensive."""


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="infersight", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
