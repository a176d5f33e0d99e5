"""What the deploy files may name: real ``hubsync`` commands and options, real settings' variables."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

import typer.main
from pydantic import AliasChoices
from typer._click import Command, Context
from typer._click.exceptions import UsageError
from typer.core import TyperGroup

from hubsync.cli import app
from hubsync.settings import CONFIG_FILE_ENV, Settings, TopicNames


def setting_variables() -> set[str]:
    """Every environment variable hubsync's settings read."""
    names = {CONFIG_FILE_ENV}
    for field_name, field in Settings.model_fields.items():
        names.add(f"HUBSYNC_{field_name.upper()}")
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice).upper() for choice in alias.choices if isinstance(choice, str))
    names.update(f"HUBSYNC_TOPICS__{role.upper()}" for role in TopicNames.model_fields)
    return names


def check_command(args: Sequence[str]) -> Context:
    """Parse ``hubsync ARGS`` as the CLI would, without running it: an unknown command or option,
    or a bad value, raises :class:`UsageError`. Returns the innermost command's context."""
    command: Command = typer.main.get_command(app)
    rest = list(args)
    name = "hubsync"
    while isinstance(command, TyperGroup) and rest and not rest[0].startswith("-"):
        sub = command.get_command(Context(command), rest[0])
        if sub is None:
            raise UsageError(f"no hubsync command {' '.join(args)!r}")
        name, command, rest = rest[0], sub, rest[1:]
    if isinstance(command, TyperGroup):
        raise UsageError(f"hubsync {' '.join(args)!r} names a group, not a command")
    return command.make_context(name, rest)


def shell_commands(script: str) -> list[list[str]]:
    """The ``hubsync ...`` commands of a ``sh -c`` script (joined by ``&&``)."""
    return [shlex.split(part)[1:] for part in script.split("&&") if shlex.split(part)[:1] == ["hubsync"]]
