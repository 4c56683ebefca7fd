"""The `aimc-dse` command line: parses arguments, calls specs → cost → report, maps errors to exit codes.

Exit codes (ARCHITECTURE.md): 0 success; 1 a design point could not be evaluated as asked;
2 bad input (one line naming the file, the field and the problem; never a traceback).
Commands live in ``aimc_dse/commands/``; each module registers itself on ``app``.
"""

from __future__ import annotations

import functools
import sys
from typing import Callable

import typer
from rich.console import Console

from .specs.base import SpecError

app = typer.Typer(
    name="aimc-dse",
    help="Design-space exploration of LLM inference on 3D analog in-memory-computing hardware.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class EvaluationError(Exception):
    """A design point that could not be evaluated as asked (exit code 1)."""


def cli_errors(fn: Callable) -> Callable:
    """Turn bad input into one line on stderr and exit code 2 (1 for evaluation failures)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SpecError as e:
            err_console.print(f"error: {e}", markup=False)
            raise typer.Exit(2) from None
        except EvaluationError as e:
            err_console.print(f"error: {e}", markup=False)
            raise typer.Exit(1) from None

    return wrapper


def _register_commands() -> None:
    from .commands import COMMAND_MODULES

    for mod in COMMAND_MODULES:
        mod.register(app)


_register_commands()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
