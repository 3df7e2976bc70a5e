"""What the ledger explorer shows: pages of entries, newest first, and one entry, as an
officer sees them (every payload), up to the latest signed checkpoint.

Entries beyond the latest checkpoint are not listed: no signed root includes them yet,
so the browser could not check them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.store.engine import read_transaction
from lookup_api.auth import ApiKey
from lookup_api.problems import not_found
from lookup_api.routes.ledger.controller import EntryView, entry_view
from lookup_api.routes.ledger.disclosure import shown_entries
from lookup_api.wiring import Services

PAGE_SIZE = 50


@dataclass(frozen=True)
class EntriesPage:
    entries: list[EntryView]  # newest first
    tree_size: int  # the latest signed checkpoint's
    newer: int | None  # the ``before`` of the page of newer entries, None on the first
    older: int | None  # the ``before`` of the next page, None on the last


def entries_page(services: Services, key: ApiKey | None, before: int | None) -> EntriesPage:
    """The ``PAGE_SIZE`` entries before index ``before`` (default: the whole tree)."""
    ledger = services.ledger
    with read_transaction(services.engine) as conn:
        checkpoint = ledger.latest_checkpoint(conn)
        size = checkpoint.size if checkpoint else 0
        end = size if before is None else min(before, size)
        start = max(end - PAGE_SIZE, 0)
        stored = ledger.entries(start, end, conn) if end > start else []
        shown = shown_entries(conn, stored, key)
        views = [
            entry_view(s, ledger.redaction_of(s.entry.index, conn) if s.entry.redacted else None)
            for s in reversed(shown)
        ]
    newer = None if end >= size else min(end + PAGE_SIZE, size)
    return EntriesPage(views, size, newer, start if start > 0 else None)


def one_entry(services: Services, key: ApiKey | None, index: int) -> tuple[EntryView, int]:
    """The entry and the latest checkpoint's size; 404 when no checkpoint covers it."""
    ledger = services.ledger
    with read_transaction(services.engine) as conn:
        checkpoint = ledger.latest_checkpoint(conn)
        size = checkpoint.size if checkpoint else 0
        stored = ledger.entry(index, conn) if index < size else None
        if stored is None:
            raise not_found(f"entry {index} is not in the log's latest checkpoint (size {size})")
        redacted_by = ledger.redaction_of(index, conn) if stored.redacted else None
        view = entry_view(shown_entries(conn, [stored], key)[0], redacted_by)
    return view, size
