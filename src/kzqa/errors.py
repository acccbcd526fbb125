"""Errors that reach the user: a one-line message, an exit code and a hint."""

from __future__ import annotations

# Exit codes (documented in the README; tests/test_cli_errors.py checks each one).
EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: rerun with --debug for the traceback
EXIT_USAGE = 2  # bad arguments: empty question, -k 0, unknown option
EXIT_CONFIG = 3  # config file unreadable, invalid YAML, bad key or value
EXIT_CORPUS = 4  # corpus folder missing or holds no readable documents
EXIT_INDEX = 5  # index missing, damaged, or written by another model/format
EXIT_MODEL = 6  # the embedding model cannot be loaded offline
EXIT_BUSY = 7  # another `kzqa index` holds the lock
EXIT_VERIFY = 8  # `kzqa verify` found the index out of step with the corpus


class KzqaError(Exception):
    """Base class: everything the CLI reports without a traceback."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"

    def __reduce__(self) -> tuple[type[KzqaError], tuple[str, str | None]]:
        """Pickled with its hint (`kzqa serve --processes` sends errors between processes)."""
        return type(self), (self.message, self.hint)


class UsageError(KzqaError):
    exit_code = EXIT_USAGE


class ConfigError(KzqaError):
    exit_code = EXIT_CONFIG


class CorpusError(KzqaError):
    exit_code = EXIT_CORPUS


class StoreError(KzqaError):
    """The index is missing, damaged, or written by another model or format."""

    exit_code = EXIT_INDEX


class ModelError(KzqaError):
    exit_code = EXIT_MODEL


class BusyError(KzqaError):
    exit_code = EXIT_BUSY


class VerifyError(KzqaError):
    exit_code = EXIT_VERIFY
