"""One error type the CLI reports as a single line, and the translation of AWS SDK errors into it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
)
from rich.console import Console
from rich.markup import escape

P = ParamSpec("P")
R = TypeVar("R")


class CliError(Exception):
    """A failure the user can act on: printed as one line, exit code 1, no traceback."""


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", "")) or str(error)


def explain(error: Exception) -> str:
    """A one-line message for an SDK error that no command handled more specifically."""
    if isinstance(error, ClientError):
        operation = getattr(error, "operation_name", "") or "request"
        return f"{operation} failed ({error_code(error)}): {error_message(error)}"
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials found: configure them or pass --profile"
    if isinstance(error, NoRegionError):
        return "no AWS region configured: pass --region or set AWS_REGION"
    if isinstance(error, ProfileNotFound):
        return str(error)
    if isinstance(error, EndpointConnectionError):
        return f"cannot reach {error.kwargs.get('endpoint_url', 'the service')}"
    if isinstance(error, BotoCoreError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def reported(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command so errors a user can act on end it with one line on stderr and exit code 1.

    Anything else is a bug and keeps its traceback.
    """

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CliError as error:
            message = str(error)
        except (BotoCoreError, ClientError) as error:
            message = explain(error)
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]error:[/red] {escape(message)}")
        raise typer.Exit(code=1)

    return run
