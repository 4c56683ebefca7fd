"""How commands fail: one line on stderr and an exit code, never a raw traceback by default.

Exit codes (docs/architecture.md): 0 success; 1 a design point could not be evaluated as
asked, or an unexpected internal error; 2 bad input (one line naming the file, the field and
the problem) — including files that cannot be read or written (disk full, a file where a
folder should be); 130 interrupted. Any exception a command does not turn into one of these
is printed as one line with a hint to re-run with ``--debug`` (or ``AIMC_DSE_DEBUG=1``),
which shows the traceback. Commands import from here, and ``cli`` sets the debug flag, so
no command imports the CLI module.
"""

from __future__ import annotations

import errno
import functools
import os
from typing import Any, Callable

import typer
from rich.console import Console

try:  # the click typer runs on: its own copy (typer._click) in newer typers, the click package in older ones
    from typer import _click as typer_click
except ImportError:  # pragma: no cover  (typer without its own click)
    import click as typer_click  # type: ignore[no-redef]

err_console = Console(stderr=True, highlight=False, soft_wrap=True)

DEBUG_HINT = "re-run with --debug for the traceback"


class _Debug:
    """Whether tracebacks are shown: AIMC_DSE_DEBUG=1, or --debug (set by the CLI)."""

    on: bool = os.environ.get("AIMC_DSE_DEBUG", "") not in ("", "0")


debug = _Debug()


class EvaluationError(Exception):
    """A design point that could not be evaluated as asked (exit code 1)."""


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= 300 else text[:297] + "…"


def os_error_line(e: OSError) -> str:
    """An OSError as one line naming the file: disk full, permission denied, not a folder …"""
    if e.errno == errno.ENOSPC:
        why = "the disk is full (no space left on device)"
    else:
        why = e.strerror or _one_line(e) or type(e).__name__
    name = e.filename if e.filename is not None else None
    return f"error: {name}: {why}" if name else f"error: {why}"


def report_unexpected(e: BaseException) -> int:
    """Print an exception nobody turned into an error message; return the exit code."""
    if isinstance(e, OSError):
        err_console.print(os_error_line(e), markup=False)
        return 2
    if isinstance(e, MemoryError):
        err_console.print(f"error: out of memory (the input is too large); {DEBUG_HINT}", markup=False)
        return 1
    if isinstance(e, RecursionError):
        err_console.print(f"error: an input is nested too deeply; {DEBUG_HINT}", markup=False)
        return 2
    msg = _one_line(e)
    err_console.print(f"error: unexpected {type(e).__name__}{': ' + msg if msg else ''} ({DEBUG_HINT})", markup=False)
    return 1


def cli_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn bad input into one line on stderr and exit code 2 (1 for evaluation failures).

    Anything else unexpected becomes one line and exit 1 (2 for OS errors such as a full
    disk) unless debugging is on, which lets the traceback through.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..specs.base import SpecError  # pydantic loads with the first command that needs it

        try:
            return fn(*args, **kwargs)
        except SpecError as e:
            err_console.print(f"error: {e}", markup=False)
            raise typer.Exit(2) from None
        except EvaluationError as e:
            err_console.print(f"error: {e}", markup=False)
            raise typer.Exit(1) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
            raise
        except BrokenPipeError:  # stdout's reader went away: the CLI's entry stops quietly (cli.LazyGroup)
            raise
        except Exception as e:  # the top-level guard: never a raw traceback by default
            if isinstance(e, typer_click.ClickException) or debug.on:  # the CLI prints a usage error (cli.usage_error_line)
                raise
            raise typer.Exit(report_unexpected(e)) from None

    return wrapper
