"""Every exception hubsync defines is in its one tree, under a class that says what happens next."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import hubsync
from hubsync.errors import (
    ConfigurationError,
    FatalError,
    HubsyncError,
    RejectedRequestError,
    RetriableError,
    SkippableRecordError,
)

#: the stand-in for HubSpot: its errors are HubSpot's answers (HTTP bodies), not hubsync's
OUTSIDE_THE_TREE = ("hubsync.sandbox",)
WHAT_HAPPENS_NEXT = (RetriableError, FatalError, SkippableRecordError, RejectedRequestError)


def _defined_exceptions() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for info in pkgutil.walk_packages(hubsync.__path__, "hubsync."):
        if info.name.startswith(OUTSIDE_THE_TREE) or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == info.name:
                found.append(obj)
    return found


def test_the_walk_finds_the_package_exceptions() -> None:
    names = {e.__name__ for e in _defined_exceptions()}
    assert {"PlatformWriteError", "MigrationError", "ServiceError", "HubSpotAuthError"} <= names


@pytest.mark.parametrize("exc", _defined_exceptions(), ids=lambda e: f"{e.__module__}.{e.__name__}")
def test_every_exception_is_in_the_tree(exc: type[BaseException]) -> None:
    assert issubclass(exc, HubsyncError)
    if exc is not HubsyncError:
        assert issubclass(exc, WHAT_HAPPENS_NEXT), f"{exc} says nothing of what happens next"


def test_configuration_errors_are_fatal() -> None:
    from hubsync.settings import ConfigFileError, MissingSettingError

    assert issubclass(MissingSettingError, ConfigurationError)
    assert issubclass(ConfigFileError, ConfigurationError)
    assert issubclass(ConfigFileError, FileNotFoundError)  # callers that caught the builtin still do
