"""Central error handling of the command line: one red line for user errors, exit codes by kind.

Exit codes (the same for every command, and for ``certify`` later):

* 0 — done / the input conforms;
* 1 — the input is invalid or does not conform (a verdict, not a crash);
* 2 — usage error: missing or unreadable file, bad option value, unknown credential;
* 3 — internal or infrastructure failure. The traceback is printed only with ``LIENTHONG_DEBUG=1``.

Commands raise :class:`UsageProblem` or :class:`InvalidInput` (or let library errors through) and are
wrapped with :func:`cli_errors`, which turns every exception into a message and an exit code.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from enum import IntEnum
from typing import ParamSpec, TypeVar

import click
import typer
from rich.console import Console
from rich.text import Text

__all__ = [
    "DEBUG_ENV",
    "CliError",
    "ExitCode",
    "InvalidInput",
    "UsageProblem",
    "cli_errors",
    "err_console",
    "out_console",
    "print_error",
]

DEBUG_ENV = "LIENTHONG_DEBUG"
P = ParamSpec("P")
R = TypeVar("R")


class ExitCode(IntEnum):
    OK = 0
    INVALID = 1
    USAGE = 2
    INTERNAL = 3


class CliError(Exception):
    """A problem to report in one line: what, where (a path or element), the requirement, the fix."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(
        self,
        message: str,
        *,
        requirement: str | None = None,
        hint: str | None = None,
        where: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.requirement = requirement
        self.hint = hint
        self.where = where


class UsageProblem(CliError):
    """The command cannot run as asked (exit 2)."""

    exit_code = ExitCode.USAGE


class InvalidInput(CliError):
    """The input was read and judged invalid (exit 1)."""

    exit_code = ExitCode.INVALID


def out_console() -> Console:
    """Console on stdout; no hard wrapping, so long messages survive pipes and test runners intact."""
    return Console(soft_wrap=True, highlight=False)


def err_console() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)


def print_error(err: CliError) -> None:
    """``error: <where>: <message> [<requirement>] — <hint>`` in red on stderr (no markup parsing)."""
    line = Text("error: ", style="bold red")
    if err.where:
        line.append(f"{err.where}: ", style="red")
    line.append(err.message, style="red")
    if err.requirement:
        line.append(f" [{err.requirement}]", style="bold red")
    if err.hint:
        line.append(f" — {err.hint}", style="red")
    err_console().print(line)


def _translate(exc: BaseException) -> CliError | None:
    """Library exceptions that are the user's to fix, as CliErrors; None for anything else."""
    # Imported here: the CLI must start (and print --help) even when one library module is broken.
    from simulator.edxml.attachments import AttachmentError
    from simulator.edxml.diagnostics import EdxmlError, Severity
    from simulator.edxml.identifiers import IdentifierError
    from simulator.edxml.xmlsafe import UnsafeXmlError
    from simulator.pki.ca import UnknownCredentialError

    if isinstance(exc, IdentifierError):
        return UsageProblem(exc.message, requirement=exc.requirement)
    if isinstance(exc, EdxmlError):
        first = next((d for d in exc.diagnostics if d.severity is Severity.ERROR), None)
        if first is None:
            return InvalidInput(str(exc))
        return InvalidInput(first.message, requirement=first.requirement, where=first.path)
    if isinstance(exc, UnsafeXmlError):
        return InvalidInput(str(exc), requirement="EDXML-XML")
    if isinstance(exc, AttachmentError):
        return InvalidInput(str(exc), requirement=exc.requirement)
    if isinstance(exc, UnknownCredentialError):
        return UsageProblem(
            f"no credential named {exc.name!r} in the test CA at {exc.directory}",
            hint="issue it with `lienthong pki issue NAME`, or list them with `lienthong pki list`",
        )
    if isinstance(exc, FileNotFoundError):
        return UsageProblem(
            "file or directory not found", where=str(exc.filename or ""), hint="check the path"
        )
    if isinstance(exc, IsADirectoryError):
        return UsageProblem("is a directory, expected a file", where=str(exc.filename or ""))
    if isinstance(exc, NotADirectoryError):
        return UsageProblem("a part of the path is not a directory", where=str(exc.filename or ""))
    if isinstance(exc, PermissionError):
        return UsageProblem(
            "permission denied", where=str(exc.filename or ""), hint="check the file's permissions"
        )
    return None


def cli_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap a Typer command: CliErrors and known library errors → one red line and their exit code;
    anything unexpected → exit 3 with a hint to rerun with ``LIENTHONG_DEBUG=1`` (which re-raises)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except CliError as exc:
            print_error(exc)
            raise typer.Exit(int(exc.exit_code)) from None
        except Exception as exc:
            translated = _translate(exc)
            if translated is not None:
                print_error(translated)
                raise typer.Exit(int(translated.exit_code)) from None
            if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
                raise
            print_error(
                CliError(
                    f"internal error: {type(exc).__name__}: {exc}",
                    hint=f"this is a lienthong bug or an infrastructure failure; rerun with {DEBUG_ENV}=1 "
                    "for the traceback and report it",
                )
            )
            raise typer.Exit(int(ExitCode.INTERNAL)) from None

    return wrapper
