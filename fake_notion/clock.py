"""The fake clock: real time plus an offset that tests can advance.

Everything time-dependent in the fake (OAuth code expiry, rate-limit windows,
search index lag, cursor expiry, timestamps of objects created through the
API) reads this clock, so a test can jump ten minutes ahead instead of
sleeping. Fixture objects carry their own fixed timestamps.
"""

import threading
import time
from datetime import datetime, timezone


class Clock:
    def __init__(self):
        self._lock = threading.Lock()
        self._offset = 0.0

    def now(self):
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds):
        with self._lock:
            self._offset += float(seconds)
            return self._offset

    def offset(self):
        with self._lock:
            return self._offset

    def reset(self):
        with self._lock:
            self._offset = 0.0


def parse_iso(text):
    """Parses the ISO 8601 forms the fixtures use; returns epoch seconds."""
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def iso_minute(ts):
    """Pages, blocks and comments: rounded down to the minute, as recorded
    from the real API ("2026-07-04T09:08:00.000Z")."""
    dt = datetime.fromtimestamp(int(ts) // 60 * 60, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:00.000Z")


def iso_millis_offset(ts):
    """Databases: millisecond precision with an explicit offset, as recorded
    ("2026-07-04T09:08:57.778+00:00")."""
    ms = int(round(ts * 1000))
    dt = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}+00:00"


def iso_z(ts):
    """Timestamps in the fake's own control output."""
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"
