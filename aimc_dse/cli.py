"""The `aimc-dse` command line: parses arguments, calls specs → cost → report, maps errors to exit codes.

Exit codes (docs/architecture.md): 0 success; 1 a design point could not be evaluated as asked;
2 bad input (one line naming the file, the field and the problem; never a traceback).
Commands live in ``aimc_dse/commands/``; each module registers itself on ``app``. The
root group loads a command's module only when that command runs (``commands.COMMANDS``
lists names and one-line help for ``--help``), so start-up pays only for what is used.
"""

from __future__ import annotations

import functools
import sys
from typing import Callable

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from .commands import COMMANDS


class _Listed(click.Command):
    """Stand-in for a command not imported yet: its name and one-line help, for ``--help``."""


class LazyGroup(TyperGroup):
    """The root group: a command's module is imported when the command is resolved, not before."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, (_, short) in COMMANDS.items():
            self.commands.setdefault(name, _Listed(name, help=short, short_help=short))

    def load(self, name: str) -> None:
        if not isinstance(self.commands.get(name), _Listed):
            return
        from .commands import module

        sub = typer.Typer()
        module(COMMANDS[name][0]).register(sub)
        group = typer.main.get_group(sub)
        for n, cmd in group.commands.items():
            if isinstance(self.commands.get(n), _Listed) or n not in self.commands:
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
def _root() -> None:
    """Design-space exploration of LLM inference on 3D analog in-memory-computing hardware."""


err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class EvaluationError(Exception):
    """A design point that could not be evaluated as asked (exit code 1)."""


def cli_errors(fn: Callable) -> Callable:
    """Turn bad input into one line on stderr and exit code 2 (1 for evaluation failures)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .specs.base import SpecError  # pydantic loads with the first command that needs it

        try:
            return fn(*args, **kwargs)
        except SpecError as e:
            err_console.print(f"error: {e}", markup=False)
            raise typer.Exit(2) from None
        except EvaluationError as e:
            err_console.print(f"error: {e}", markup=False)
            raise typer.Exit(1) from None

    return wrapper


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
