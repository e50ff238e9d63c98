"""Pagination as the API does it (notion-api.md §2.8).

- page_size: default 100, at most 100, at least 1.
- GET endpoints take start_cursor/page_size in the query string, POST
  endpoints in the JSON body; a start_cursor in the query string of a POST
  endpoint is a 400.
- GET lists (users, block children, comments) use the id of the first item
  of the next page as the cursor, as recorded for block children.
- Search and data-source queries hand out session-scoped opaque cursors (the
  2026-04-22 behaviour): tied to the bot and the listing, optionally expiring,
  and invalidated on demand; a bad one is a 400 "The start_cursor provided is
  invalid: <cursor>".
- next_cursor is null whenever has_more is false.
- One search or data-source query returns at most query_result_limit
  results (10,000 by default): past it has_more is false and request_status
  says incomplete (query_result_limit_reached); otherwise it says complete.
"""

import ids
from errors import UNDEFINED, invalid_cursor, quote_value, validation

MAX_PAGE_SIZE = 100
_MAX_CURSORS = 20000


def page_size(raw, where):
    if raw is UNDEFINED:
        return MAX_PAGE_SIZE
    name = f"{where}.page_size"
    if where == "query":
        try:
            n = int(raw)
        except (TypeError, ValueError):
            raise validation(f"query failed validation: {name} should be a number, instead was {quote_value(raw)}.")
    else:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise validation(
                f"body failed validation: {name} should be a number or `undefined`, instead was {quote_value(raw)}.")
        n = raw
    if n < 1:
        raise validation(f"{where} failed validation: {name} should be ≥ `1`, instead was `{n}`.")
    if n > MAX_PAGE_SIZE:
        raise validation(f"{where} failed validation: {name} should be ≤ `{MAX_PAGE_SIZE}`, instead was `{n}`.")
    return n


def body_cursor(body):
    raw = body.get("start_cursor", UNDEFINED)
    if raw is UNDEFINED:
        return None
    if not isinstance(raw, str):
        raise validation(
            f"body failed validation: body.start_cursor should be a string or `undefined`, instead was {quote_value(raw)}.")
    return raw


def reject_query_paging(query):
    """POST endpoints: paging parameters belong in the body."""
    for key in ("start_cursor", "page_size"):
        if key in query:
            raise validation(
                f"query failed validation: query.{key} should be not present, instead was {quote_value(query[key][0])}.")


def slice_from(items, start_index, size):
    """items: list of (id, payload). Returns (payloads, next_id, has_more)."""
    page = items[start_index:start_index + size]
    has_more = start_index + size < len(items)
    next_id = items[start_index + size][0] if has_more else None
    return [p for _, p in page], next_id, has_more


def by_id_cursor(items, cursor, size):
    """GET lists: the cursor is the id of the first item of the page."""
    start = 0
    if cursor is not None:
        cid = ids.parse(cursor)
        positions = {item_id: i for i, (item_id, _) in enumerate(items)}
        if cid is None or cid not in positions:
            raise invalid_cursor(cursor)
        start = positions[cid]
    return slice_from(items, start, size)


def envelope(results, next_cursor, has_more, kind, cut=None):
    """cut: None for lists without request_status (GET lists); else whether
    the query stopped at its result limit."""
    out = {
        "object": "list",
        "results": results,
        "next_cursor": next_cursor if has_more else None,
        "has_more": has_more,
        "type": kind,
        kind: {},
    }
    if cut is not None:
        out["request_status"] = ({"type": "incomplete", "incomplete_reason": "query_result_limit_reached"}
                                 if cut and not has_more else {"type": "complete"})
    return out


def capped(items, limit):
    """(the items one query may return, whether some were cut)."""
    if limit and len(items) > limit:
        return items[:int(limit)], True
    return items, False


class Cursors:
    """Opaque cursors of search and data-source queries."""

    def __init__(self):
        self._map = {}

    def clear(self):
        self._map.clear()

    def issue(self, owner, scope, next_id, now):
        cursor = ids.fresh()
        if len(self._map) >= _MAX_CURSORS:
            # Forget the oldest half; a forgotten cursor is "invalid", which
            # real clients must already handle.
            for key in list(self._map)[: _MAX_CURSORS // 2]:
                del self._map[key]
        self._map[cursor] = (owner, scope, next_id, now)
        return cursor

    def resolve(self, cursor, owner, scope, now, ttl, items):
        """Returns the start index in items, or raises the invalid-cursor 400."""
        entry = self._map.get(cursor)
        if entry is None or entry[0] != owner or entry[1] != scope:
            raise invalid_cursor(cursor)
        if ttl and now - entry[3] > ttl:
            raise invalid_cursor(cursor)
        for i, (item_id, _) in enumerate(items):
            if item_id == entry[2]:
                return i
        # The next item vanished (unshared, trashed, deleted) since then.
        raise invalid_cursor(cursor)

    def page(self, items, cursor, size, owner, scope, now, ttl):
        start = 0 if cursor is None else self.resolve(cursor, owner, scope, now, ttl, items)
        results, next_id, has_more = slice_from(items, start, size)
        next_cursor = self.issue(owner, scope, next_id, now) if has_more else None
        return results, next_cursor, has_more
