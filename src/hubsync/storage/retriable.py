"""Which PostgreSQL errors are worth retrying."""

from __future__ import annotations

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors

#: database errors after which the same batch may well succeed: retry, never dead-letter
RETRIABLE_DB_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
    pg_errors.UniqueViolation,
    pg_errors.LockNotAvailable,
    psycopg_pool.PoolTimeout,
)
