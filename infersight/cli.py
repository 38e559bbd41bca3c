"""The ``infersight`` command line: a thin shell that loads each part lazily.

``infersight --help`` imports none of the parts (so never duckdb or numpy); a subcommand's
module is imported only when that subcommand runs. Each part owns its commands in its own
``cli`` module and exposes a ``typer.Typer`` (or a click command); this file only names them.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from infersight._version import __version__

# name -> (module:attribute, extra that provides it, one-line help shown by --help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "collect": ("infersight.collectors.cli:collect_app", "collector",
                "Run the OTLP receiver (HTTP 4318, gRPC 4317) storing into DuckDB."),
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


def _load(name: str, target: str, extra: str, help_text: str) -> click.Command:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        obj: Any = getattr(module, attr)
    except ImportError as exc:
        if (exc.name or "").startswith("infersight"):
            raise click.UsageError(f"'infersight {name}' is not available in this build ({exc})") from None
        wheel = f"infersight[{extra}]" if extra else "infersight"
        raise click.UsageError(
            f"'infersight {name}' needs {'the [' + extra + '] extra' if extra else 'the base install'} "
            f"({exc.name or exc} is missing): pip install '{wheel}'"
        ) from None
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
        parent = ctx.parent.info_name if ctx.parent else "infersight"
        command.main(args=list(ctx.params["args"]), prog_name=f"{parent} {self.name}",
                     standalone_mode=True)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
