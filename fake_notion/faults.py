"""Rate limits and fault injection.

Rate limits (notion-api.md §2.6): a per-connection budget (one bucket per
bot, i.e. per authorization; a refresh does not reset it) and a per-workspace
budget shared by all connections of the workspace, each counted in fixed
windows on the fake clock. A request over budget is not counted and gets
429 rate_limited with Retry-After = seconds until its window resets.

Faults: a queue of rules "the next K requests matching (method, path prefix)
get this": a JSON error envelope with any status (500/503/504/529 with
Retry-After, 409 ...), an HTML body without x-notion-request-id (what edge
proxies send on 502/504), and/or a delay applied BEFORE the request is
processed. A delayed request whose client has gone by the end of the delay is
dropped unprocessed, like a request that never reached Notion. An answer
delay is the other case: the request is processed at once (a code spent, a
token pair rotated) and only its answer is held back; a client that leaves
meanwhile loses it, and the effect stays.
"""

import math

import errors
import ids

RATE_DEFAULTS = {
    "per_token": {"limit": 2700, "window_seconds": 60},
    "per_workspace": {"limit": 10000, "window_seconds": 60},
}
REASONS = {
    "per_token": "public_api_request_rate_limit",
    "per_workspace": "public_api_space_request_rate_limit",
}


class RateLimiter:
    def __init__(self, overrides=None):
        self.config = {k: dict(v) for k, v in RATE_DEFAULTS.items()}
        self.windows = {}  # (scope, key) -> [window start, count]
        if overrides:
            self.configure(overrides)

    def configure(self, updates):
        if not isinstance(updates, dict):
            raise ValueError("rate limits must be a JSON object")
        staged = {k: dict(v) for k, v in self.config.items()}
        for scope, conf in updates.items():
            if scope not in staged:
                raise ValueError(f"unknown rate-limit scope {scope!r} (per_token, per_workspace)")
            if not isinstance(conf, dict):
                raise ValueError(f"{scope} must be an object")
            for key, value in conf.items():
                if key not in ("limit", "window_seconds"):
                    raise ValueError(f"{scope}.{key}: unknown (limit, window_seconds)")
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                    raise ValueError(f"{scope}.{key} must be a positive number")
                staged[scope][key] = value
        self.config = staged
        self.windows.clear()

    def reset_counters(self):
        self.windows.clear()

    def _window(self, scope, key, now):
        w = self.windows.get((scope, key))
        length = self.config[scope]["window_seconds"]
        if w is None or now >= w[0] + length:
            w = [now, 0]
            self.windows[(scope, key)] = w
        return w

    def check(self, bot_id, workspace_id, now):
        """Counts one request, or returns the 429 ApiError without counting."""
        checks = (("per_token", bot_id), ("per_workspace", workspace_id))
        wins = []
        for scope, key in checks:
            w = self._window(scope, key, now)
            conf = self.config[scope]
            if w[1] >= conf["limit"]:
                retry = max(1, math.ceil(w[0] + conf["window_seconds"] - now))
                return errors.rate_limited(REASONS[scope], retry)
            wins.append(w)
        for w in wins:
            w[1] += 1
        return None

    def describe(self, now):
        out = {k: dict(v) for k, v in self.config.items()}
        out["usage"] = [
            {"scope": scope, "key": key, "count": w[1],
             "resets_in": max(0.0, round(w[0] + self.config[scope]["window_seconds"] - now, 3))}
            for (scope, key), w in self.windows.items()
        ]
        return out


HTML_BODIES = {
    502: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
         "<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n",
    504: "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1>"
         "</center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n",
}


class Fault:
    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("a fault must be a JSON object")
        known = {"method", "path", "count", "status", "code", "message", "html", "delay_ms", "answer_delay_ms",
                 "retry_after", "additional_data"}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown fault keys {sorted(unknown)} (known: {sorted(known)})")
        self.id = ids.fresh()
        self.method = (spec.get("method") or "*").upper()
        self.path = spec.get("path", "/v1/")
        if not isinstance(self.path, str) or not self.path.startswith("/") or self.path.startswith("/_fake"):
            raise ValueError("path must be a path prefix starting with / (not /_fake)")
        self.remaining = int(spec.get("count", 1))
        if self.remaining < 1:
            raise ValueError("count must be at least 1")
        self.status = spec.get("status")
        self.html = bool(spec.get("html", False))
        self.delay_ms = int(spec.get("delay_ms", 0))
        self.answer_delay_ms = int(spec.get("answer_delay_ms", 0))
        if self.delay_ms < 0 or self.answer_delay_ms < 0:
            raise ValueError("delay_ms and answer_delay_ms must not be negative")
        self.retry_after = spec.get("retry_after")
        self.additional_data = spec.get("additional_data")
        if self.status is None and not self.delay_ms and not self.answer_delay_ms:
            raise ValueError("a fault needs a status, a delay_ms or an answer_delay_ms")
        if self.status is not None:
            if not isinstance(self.status, int) or not 400 <= self.status <= 599:
                raise ValueError("status must be an HTTP error status (400-599)")
            default_code, default_message = errors.FAULT_DEFAULTS.get(self.status, ("internal_server_error", "Error."))
        else:
            default_code, default_message = None, None
        self.code = spec.get("code", default_code)
        self.message = spec.get("message", default_message)
        if self.retry_after is None and self.status in (429, 529):
            self.retry_after = 1
        if self.retry_after is not None and (isinstance(self.retry_after, bool) or not isinstance(self.retry_after, int)
                                             or self.retry_after < 0):
            raise ValueError("retry_after must be a non-negative integer (seconds)")
        if self.html and self.status is None:
            raise ValueError("html needs a status")

    def matches(self, method, path):
        return (self.method in ("*", method)) and path.startswith(self.path)

    def describe(self):
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "remaining": self.remaining,
            "status": self.status,
            "code": self.code if self.status is not None and not self.html else None,
            "html": self.html,
            "delay_ms": self.delay_ms,
            "answer_delay_ms": self.answer_delay_ms,
            "retry_after": self.retry_after,
        }

    def label(self):
        parts = []
        if self.delay_ms:
            parts.append(f"delay {self.delay_ms}ms")
        if self.status is not None:
            parts.append(f"{self.status} {'html' if self.html else self.code}")
        return ", ".join(parts)

    def error(self):
        """The ApiError a JSON fault answers with."""
        additional = self.additional_data
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        if self.status == 429 and additional is None:
            additional = {"rate_limit_reason": REASONS["per_token"], "retry_after": self.retry_after}
        return errors.ApiError(self.status, self.code, self.message, additional, headers)

    def html_body(self):
        return HTML_BODIES.get(self.status) or (
            f"<html><head><title>{self.status}</title></head><body><center><h1>{self.status}</h1></center>"
            "<hr><center>cloudflare</center></body></html>\r\n")


class Faults:
    def __init__(self):
        self.queue = []

    def add(self, spec):
        fault = Fault(spec)
        self.queue.append(fault)
        return fault

    def take(self, method, path):
        """The first matching rule, consuming one of its uses."""
        for fault in self.queue:
            if fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.queue.remove(fault)
                return fault
        return None

    def clear(self):
        self.queue.clear()

    def describe(self):
        return [f.describe() for f in self.queue]
