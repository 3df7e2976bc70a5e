"""The long-lived objects a running service needs, built once from settings."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from sqlalchemy import Engine

from credit.regrade import credit_hooks
from ledger.audit.verify import VerifyReport
from ledger.errors import InvalidInput
from ledger.records.projector import live_rows, project_stored
from ledger.store.engine import create_db_engine, migrate, read_transaction
from ledger.store.export import Attachment, export_log, import_log
from ledger.store.keys import load_or_create_signer
from ledger.store.log import Ledger
from ledger.store.service import AppendService
from lookup_api.auth import KeyStore
from lookup_api.auth import migrate as migrate_app
from lookup_api.cache import EVERYTHING, ResponseCache
from lookup_api.pages.csrf import load_or_create_secret
from lookup_api.settings import Settings
from lookup_api.shared_sequencer import SharedAppendService
from qr.backup import CodesAttachment


class StaleState(InvalidInput):
    """A restore found projection rows in a database whose log is empty."""


LEAF_INDEX_STEP = 16_384  # entries per transaction, so appends never wait long


def open_database(settings: Settings, engine: Engine | None = None) -> Engine:
    """The configured database, migrated (only read when it is up to date)."""
    engine = engine or create_db_engine(settings.ledger.database_url)
    migrate(engine)
    migrate_app(engine)
    return engine


def response_cache(settings: Settings) -> ResponseCache | None:
    """The shared response cache: in Redis, or none without it (lookup_api.cache)."""
    if not settings.redis_url:
        return None
    return ResponseCache(settings.redis_url, settings.redis_prefix)


def forget_cached(settings: Settings, size: int) -> None:
    """Invalidate every cached value read at tree size ``size`` or before: after the
    projections were rebuilt or restored outside the sequencer."""
    cache = response_cache(settings)
    if cache is not None:
        cache.mark({EVERYTHING}, size)
        cache.close()


def open_ledger(
    settings: Settings, engine: Engine | None = None, cache: ResponseCache | None = None
) -> Ledger:
    """Migrate, load (or create) the signing key and open the log with its projections.

    With Redis, every append (the server's, the CLI's) invalidates the response cache.
    """
    engine = open_database(settings, engine)
    signer = load_or_create_signer(settings.ledger.key_file, settings.ledger.origin)
    # Made here, once before `credtrace serve` starts its workers, so none reads it half-written.
    load_or_create_secret(settings.ledger.key_file)
    ledger = Ledger(engine, signer, settings.ledger.origin, hooks=credit_hooks())
    cache = cache or response_cache(settings)
    if cache is not None:
        ledger.listeners.append(cache.invalidator())
    return ledger


def attachments() -> list[Attachment]:
    """What an export carries beside the log: the serials the codes' roots commit to."""
    return [CodesAttachment()]


def backup_log(
    engine: Engine, out: IO[str], progress: Callable[[int], object] | None = None
) -> int:
    """Export the log and what it commits to (``credtrace ledger export``)."""
    return export_log(engine, out, progress=progress, attachments=attachments())


def restore_log(
    ledger: Ledger, source: IO[str], progress: Callable[[int], object] | None = None
) -> VerifyReport:
    """Restore an export into this empty log with its projections, in one transaction.

    Projection rows without a log (left by a log that was emptied by hand) would stay
    beside the restored state and make it differ from a replay: they are refused.
    """
    with read_transaction(ledger.engine) as conn:
        stale = live_rows(conn)
    if stale:
        listed = ", ".join(f"{name} ({count:,} rows)" for name, count in sorted(stale.items()))
        raise StaleState(
            f"the live tables hold state that no entry of this log explains: {listed}; "
            "run `credtrace ledger replay --apply` on this empty log to clear them first"
        )
    return import_log(
        ledger, source, progress=progress, on_entries=project_stored, attachments=attachments()
    )


@dataclass
class Services:
    settings: Settings
    engine: Engine
    ledger: Ledger
    appender: AppendService
    keys: KeyStore
    stop: threading.Event
    indexer: threading.Thread
    page_secret: bytes  # the officers' pages' CSRF secret (lookup_api.pages.session)
    cache: ResponseCache | None = None  # the public reads' facts (lookup_api.cache)

    @classmethod
    def open(cls, settings: Settings) -> Services:
        cache = response_cache(settings)
        ledger = open_ledger(settings, cache=cache)
        engine = ledger.engine
        appender = (
            AppendService(ledger, max_batch=settings.max_append_batch)
            if settings.sequencer_socket is None
            else SharedAppendService(
                ledger, settings.sequencer_socket, max_batch=settings.max_append_batch
            )
        )
        # Bulk imports leave the leaf-hash index behind; fill it in small steps, off the
        # request path (until then a lookup by leaf hash scans the unindexed tiles).
        stop = threading.Event()
        indexer = threading.Thread(
            target=ledger.catch_up_leaf_index,
            kwargs={"chunk": LEAF_INDEX_STEP, "stop": stop},
            name="leaf-index",
            daemon=True,
        )
        indexer.start()
        page_secret = load_or_create_secret(settings.ledger.key_file)
        return cls(
            settings, engine, ledger, appender, KeyStore(engine), stop, indexer, page_secret, cache
        )

    def close(self) -> None:
        self.stop.set()
        self.indexer.join(30)
        self.appender.close()
        self.engine.dispose()
        if self.cache is not None:
            self.cache.close()
