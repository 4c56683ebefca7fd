"""The `aimc-dse` command line: parses arguments, calls specs → cost → report, maps errors to exit codes.

Exit codes and error lines are ``commands.errors``' (docs/architecture.md): 0 success; 1 a
design point could not be evaluated as asked, or an unexpected internal error; 2 bad input
(one line naming the file, the field and the problem; never a traceback by default —
``--debug``, before or after the command, or ``AIMC_DSE_DEBUG=1`` shows it); 130
interrupted. Commands live in ``aimc_dse/commands/``; each module registers itself on
``app``. The root group loads a command's module only when that command runs
(``commands.COMMANDS`` lists names and one-line help for ``--help``), so start-up pays only
for what is used.
"""

from __future__ import annotations

import re
import sys

import typer
from typer.core import TyperCommand, TyperGroup

from . import runtime
from .commands import COMMANDS, LINEAR_ALGEBRA
from .commands.errors import EvaluationError, cli_errors, debug, err_console, report_unexpected

__all__ = ["app", "main", "cli_errors", "err_console", "EvaluationError"]


class _Listed(TyperCommand):
    """Stand-in for a command not imported yet: its name and one-line help, for ``--help``."""


_LIST_TYPE = re.compile(r"^<list\[(.+)\]>$")


def plain_metavars(command, ctx) -> None:
    """Help that shows what an option takes: nothing beside a flag, ``<str>`` beside a
    repeatable text option.

    typer 0.29 prints each option's Python type, so every flag read ``--force <bool>`` (as if
    it took a value: ``--force true`` is an error) and a repeatable option ``<list[str]>``.
    Each option's help says "(repeatable)" where it is. Older typers show no type; there
    this changes nothing."""
    _plain_metavars([*command.params, command.get_help_option(ctx)], ctx)


def _plain_metavars(params, ctx) -> None:
    for param in params:
        if param is None or param.metavar is not None or getattr(param, "count", False):
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif getattr(param, "multiple", False) and hasattr(param, "display_type_rich"):
            shown = _LIST_TYPE.match(str(param.display_type_rich(ctx)))
            if shown:
                param.metavar = f"<{shown.group(1)}>"


class LazyGroup(TyperGroup):
    """The root group: a command's module is imported when the command is resolved, not before."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, (_, short) in COMMANDS.items():
            self.commands.setdefault(name, _Listed(name, help=short, short_help=short))

    def get_help_option(self, ctx):
        # the root's own options (``--debug``, ``--help``), as ``plain_metavars`` does a
        # command's: click asks for the help option before it prints any option
        option = super().get_help_option(ctx)
        _plain_metavars([*self.params, option], ctx)
        return option

    def load(self, name: str) -> None:
        if not isinstance(self.commands.get(name), _Listed):
            return
        # before the command's module loads numpy or pyarrow (aimc_dse/runtime.py)
        runtime.apply(linear_algebra=name in LINEAR_ALGEBRA)
        from .commands import module

        sub = typer.Typer()
        module(COMMANDS[name][0]).register(sub)
        group = typer.main.get_group(sub)
        for n, cmd in group.commands.items():
            if isinstance(self.commands.get(n), _Listed) or n not in self.commands:
                plain_metavars(cmd, cmd.context_class(cmd, info_name=n))
                self.commands[n] = cmd

    def resolve_command(self, ctx, args):
        if args and args[0] in COMMANDS:
            self.load(args[0])
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="aimc-dse",
    cls=LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    debug_flag: bool = typer.Option(
        False, "--debug", help="show the full traceback of an unexpected error (also AIMC_DSE_DEBUG=1)"
    ),
) -> None:
    """Design-space exploration of LLM inference on 3D analog in-memory-computing hardware."""
    debug.on = debug.on or debug_flag


def _take_debug_flag(argv: list[str]) -> list[str]:
    """``--debug`` anywhere before ``--`` switches debugging on (users add it after the command)."""
    if "--" in argv:
        i = argv.index("--")
        head, tail = argv[:i], argv[i:]
    else:
        head, tail = argv, []
    if "--debug" in head:
        debug.on = True
        head = [a for a in head if a != "--debug"]
    return head + tail


def main() -> None:
    sys.argv[1:] = _take_debug_flag(sys.argv[1:])
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as e:  # outside any command (argument parsing, start-up)
        if debug.on:
            raise
        sys.exit(report_unexpected(e))


if __name__ == "__main__":
    main()
