"""The `aimc-dse` command line: parses arguments, calls specs → cost → report, maps errors to exit codes.

Exit codes and error lines are ``commands.errors``' (docs/architecture.md): 0 success; 1 a
design point could not be evaluated as asked, or an unexpected internal error; 2 bad input
(one line naming the file, the field and the problem; never a traceback by default —
``--debug``, before or after the command, or ``AIMC_DSE_DEBUG=1`` shows it); 130
interrupted; 141 stdout's reader went away (``aimc-dse … | head``: the command stops quietly,
as ``yes | head`` does). A usage error (a bad option value, a missing option, an unknown
command) is one line too, ``error: --batch: 'abc' is not a valid integer``
(``usage_error_line``). Commands live in ``aimc_dse/commands/``; each module registers itself on
``app``. The root group loads a command's module only when that command runs
(``commands.COMMANDS`` lists names and one-line help for ``--help``), so start-up pays only
for what is used.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from . import runtime
from .commands import COMMANDS, LINEAR_ALGEBRA
from .commands.errors import EvaluationError, cli_errors, debug, err_console, report_unexpected, typer_click

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
    for name, sub in getattr(command, "commands", {}).items():  # a group's commands (trace synth, experts score)
        plain_metavars(sub, sub.context_class(sub, info_name=name, parent=ctx))


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


EXIT_STDOUT_GONE = 141  # 128 + SIGPIPE: what a shell reports for `yes | head`


class StdoutGone(Exception):
    """stdout's reader went away while a command wrote to it (``aimc-dse … | head``)."""


def _stdout_is_gone() -> bool:
    """Whether stdout is a pipe nobody reads any more (POLLERR on its write end). True where
    it cannot be told (no poll): a BrokenPipeError is then taken to be stdout's, as Python's
    documented recipe does."""
    try:
        import select

        poller = select.poll()
        poller.register(sys.__stdout__.fileno(), select.POLLOUT)  # type: ignore[union-attr]
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return True


@contextlib.contextmanager
def _watch_stdout():
    """A BrokenPipeError of a closed stdout as StdoutGone, before typer's own handler makes it
    a silent exit 1; one of another pipe as an error like any other."""
    try:
        yield
    except BrokenPipeError as e:
        if _stdout_is_gone():
            raise StdoutGone() from None
        raise typer.Exit(report_unexpected(e)) from None


def _broken_pipe(console) -> None:
    raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def stop_writing_stdout() -> int:
    """stdout's reader is gone: point stdout's file descriptor at /dev/null, so that what is
    still buffered (flushed at interpreter exit) goes nowhere instead of raising again, and
    return the exit code (Python's recipe, docs.python.org/3/library/signal.html, "Note on
    SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # no file descriptor (a test's captured stdout)
        pass
    return EXIT_STDOUT_GONE


def _command_line(ctx) -> str:
    """``aimc-dse evaluate`` (``aimc-dse trace synth``): the command a context belongs to, as typed."""
    names = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join(["aimc-dse", *reversed(names)])


def _param_name(param) -> str:
    """An option by its long name (``--format``, not ``-f``), an argument by its metavar."""
    if getattr(param, "param_type_name", "") == "argument":
        return str(param.metavar or param.name.upper()).strip("{}[]")
    opts = list(getattr(param, "opts", []) or [])
    return next((o for o in opts if o.startswith("--")), opts[0] if opts else str(param.name))


def _value_problem(e) -> str:
    """What was wrong with a value: ``'abc' is not a valid integer`` (typer checks values with
    pydantic, whose message names no value), ``'xml' is not one of 'table', 'json', 'csv'``."""
    cause = e.__cause__
    errors = cause.errors() if hasattr(cause, "errors") else []
    if errors:
        msg, value = str(errors[0].get("msg", "")), errors[0].get("input")
        valid = re.match(r"Input should be (a valid [\w ]+?)(,|$)", msg)
        if valid:
            return f"{value!r} is not {valid.group(1)}"
        if msg.startswith("Value error, "):
            return msg[len("Value error, "):].rstrip(".")
        return f"{msg.rstrip('.')} (got {value!r})"
    return str(e.message).rstrip(".")


def usage_error_line(e) -> str:
    """A usage error as one line, ``error: --batch: 'abc' is not a valid integer``; where the
    command's help helps (a missing or unknown option, an unknown command), it says where to
    look, on the same line. click prints a usage box of 5–6 lines instead."""
    exc = typer_click.exceptions
    ctx = getattr(e, "ctx", None)
    see = f"; see `{_command_line(ctx)} --help`" if ctx is not None else ""
    if isinstance(e, exc.MissingParameter) and e.param is not None:
        kind = "argument" if e.param.param_type_name == "argument" else "option"
        line = f"{_param_name(e.param)}: required {kind} not given{see}"
    elif isinstance(e, exc.BadParameter):
        hint = e.param_hint if isinstance(e.param_hint, str) else None
        name = hint or (_param_name(e.param) if e.param is not None else None)
        line = f"{name}: {_value_problem(e)}" if name else _value_problem(e)
    elif isinstance(e, exc.NoSuchOption):
        close = f" (did you mean {' or '.join(sorted(e.possibilities))}?)" if e.possibilities else ""
        line = f"{e.option_name}: no such option{close}{see}"
    elif isinstance(e, exc.BadOptionUsage):
        problem = str(e.message).removeprefix(f"Option '{e.option_name}' ").rstrip(".")
        line = f"{e.option_name}: {problem}{see}"
    elif isinstance(e, exc.UsageError):
        unknown = re.match(r"No such command '(.+?)'\.(?: Did you mean (.+)\?)?$", str(e.message))
        if unknown:
            close = f" (did you mean {unknown.group(2).replace(chr(39), '').replace(', ', ' or ')}?)" if unknown.group(2) else ""
            line = f"{unknown.group(1)}: no such command{close}{see}"
        else:
            text = str(e.message).rstrip(".")
            line = f"{text[:1].lower()}{text[1:]}{see}"
    else:
        line = e.format_message()
    return "error: " + " ".join(line.split())


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

    def make_context(self, *args, **kwargs):
        with _watch_stdout():  # `aimc-dse --help | head -1`: the root's help prints while parsing
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        with _watch_stdout():
            return super().invoke(ctx)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """click's main, with usage errors as one line (``usage_error_line``) and a closed stdout
        as a quiet exit 141, also when only the final flush finds it closed."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        # rich, which prints tables and help, answers a closed pipe with a silent exit 1 of its
        # own (Console.on_broken_pipe, meant to be overridden): make it the error it is
        Console.on_broken_pipe = _broken_pipe  # type: ignore[method-assign]
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer_click.exceptions.NoArgsIsHelpError:
            sys.exit(2)  # `aimc-dse trace` alone: its help is printed already
        except typer_click.ClickException as e:
            err_console.print(usage_error_line(e), markup=False)
            sys.exit(e.exit_code)
        except typer.Abort:
            err_console.print("aborted", markup=False)
            sys.exit(1)
        except StdoutGone:
            sys.exit(stop_writing_stdout())
        try:
            sys.stdout.flush()  # here, not at interpreter exit, so a reader gone away is seen
        except BrokenPipeError:
            sys.exit(stop_writing_stdout())
        sys.exit(code if isinstance(code, int) else 0)


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
