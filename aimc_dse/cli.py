"""The `aimc-dse` command line: parses arguments, calls specs → cost → report, maps errors to exit codes.

Exit codes (ARCHITECTURE.md): 0 success; 1 a design point could not be evaluated as asked,
or an unexpected internal error; 2 bad input (one line naming the file, the field and the
problem; never a traceback) — including files that cannot be read or written (disk full,
a file where a folder should be); 130 interrupted.
Commands live in ``aimc_dse/commands/``; each module registers itself on ``app``.

No user sees a raw traceback by default: any exception a command does not turn into one of
these is printed as one line with a hint to re-run with ``--debug`` (``aimc-dse --debug …``,
the flag may also follow the command, or ``AIMC_DSE_DEBUG=1``), which shows the traceback.
"""

from __future__ import annotations

import errno
import functools
import os
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


_ENV_DEBUG = os.environ.get("AIMC_DSE_DEBUG", "") not in ("", "0")
_ARGV_DEBUG = False  # --debug found after the command name (main())
DEBUG = _ENV_DEBUG
DEBUG_HINT = "re-run with --debug for the traceback"


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


def cli_errors(fn: Callable) -> Callable:
    """Turn bad input into one line on stderr and exit code 2 (1 for evaluation failures).

    Anything else unexpected becomes one line and exit 1 (2 for OS errors such as a full
    disk) unless ``--debug`` is on, which lets the traceback through.
    """

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
        except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # the top-level guard: never a raw traceback by default
            import click

            if isinstance(e, click.ClickException) or DEBUG:
                raise
            raise typer.Exit(report_unexpected(e)) from None

    return wrapper


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", help="show the full traceback of an unexpected error (also AIMC_DSE_DEBUG=1)"
    ),
) -> None:
    """Design-space exploration of LLM inference on 3D analog in-memory-computing hardware."""
    global DEBUG
    DEBUG = _ENV_DEBUG or _ARGV_DEBUG or debug


def _register_commands() -> None:
    from .commands import COMMAND_MODULES

    for mod in COMMAND_MODULES:
        mod.register(app)


_register_commands()


def _take_debug_flag(argv: list[str]) -> list[str]:
    """``--debug`` anywhere before ``--`` switches debugging on (users add it after the command)."""
    global DEBUG, _ARGV_DEBUG
    if "--" in argv:
        i = argv.index("--")
        head, tail = argv[:i], argv[i:]
    else:
        head, tail = argv, []
    if "--debug" in head:
        DEBUG = _ARGV_DEBUG = True
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
        if DEBUG:
            raise
        sys.exit(report_unexpected(e))


if __name__ == "__main__":
    # Run the package module, not this __main__ copy, so that the commands (which import
    # aimc_dse.cli) and main() share one DEBUG flag.
    from aimc_dse.cli import main as _main

    _main()
