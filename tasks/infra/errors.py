"""The themesift error tree.

Library exceptions are translated into these where they enter our code, so the CLI can print one
line (``error: <message>``) that names the thing, the cause and the fix. Problems with a single
document are *not* errors: they become recorded skips with a reason code (see ``tasks.ingest``).
"""

from __future__ import annotations


class ThemesiftError(Exception):
    """Base class: every error a user can act on."""


class ConfigError(ThemesiftError):
    """A setting or run parameter is missing or invalid."""


class StorageError(ThemesiftError):
    """The bucket or output location cannot be used."""


class BucketNotFoundError(StorageError):
    """The bucket (or local folder) does not exist."""


class ObjectNotFoundError(StorageError):
    """An object (a file in a folder bucket) is not there."""


class AccessDeniedError(StorageError):
    """Credentials are missing or wrong, or lack permission."""


class EndpointUnreachableError(StorageError):
    """The storage endpoint does not answer."""


class UnsafeKeyError(StorageError):
    """An object key would escape the storage root (for example ``../x``)."""


class ModelError(ThemesiftError):
    """The embedding model cannot be loaded."""


class CatalogError(ThemesiftError):
    """The DuckDB catalog cannot be opened or is locked by another run."""
