"""The request log behind GET /_fake/log: what reached the fake, what it
answered, and for whom. It never holds a token, a code or a secret: only
method, path (no query string), status, the bot id when known, the grant type
of token calls, the injected fault, and whether the request was dropped.
"""

import threading

from clock import iso_z

_MAX_ENTRIES = 100000


class RequestLog:
    def __init__(self):
        self._lock = threading.Lock()
        self._entries = []
        self._seq = 0

    def add(self, when, method, path, status, request_id, info, fault=None, dropped=False):
        with self._lock:
            self._seq += 1
            entry = {
                "seq": self._seq,
                "time": iso_z(when),
                "method": method,
                "path": path,
                "status": status,
                "request_id": request_id,
                "bot_id": info.get("bot_id"),
            }
            if "grant_type" in info:
                entry["grant_type"] = info["grant_type"]
            if info.get("client_id"):
                entry["client_id"] = info["client_id"]
            if fault is not None:
                entry["fault"] = fault
            if dropped:
                entry["dropped"] = True
            self._entries.append(entry)
            if len(self._entries) > _MAX_ENTRIES:
                del self._entries[: _MAX_ENTRIES // 10]
            return entry

    def since(self, seq):
        with self._lock:
            return [e for e in self._entries if e["seq"] > seq]

    def last_seq(self):
        with self._lock:
            return self._seq

    def clear(self):
        # seq keeps growing so "since" cursors held by tests stay meaningful.
        with self._lock:
            self._entries.clear()
