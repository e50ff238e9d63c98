"""The fake's behaviour knobs: defaults, fixture overrides, and the checked
updates POST /_fake/settings applies. Anything the real API leaves
undocumented ([UNV] in notion-api.md) is a knob here, not a hard-coded guess.
"""

DEFAULTS = {
    # OAuth error bodies: "rfc" ({"error","error_description"}, as observed in
    # the field) or "notion" (the error envelope, as documented).
    "oauth_error_style": "rfc",
    # Lifetime of an authorization code, on the fake clock.
    "code_ttl_seconds": 600,
    # Re-authorization by the same user of the same workspace and client keeps
    # the bot_id (a new token pair is issued either way, post 2026-06-08).
    "reauth_same_bot": True,
    # Whether a refresh (or a re-authorization) kills the previous access
    # token. Undocumented; strict by default so clients that keep using a
    # stale access token find out in tests.
    "refresh_revokes_old_access": True,
    # Search index lag: objects reachable only through a share (or created)
    # less than this many seconds ago are missing from search; directly
    # shared roots are always returned.
    "search_index_lag_seconds": 0,
    # Search/query cursors expire after this many seconds (0 = never).
    "cursor_ttl_seconds": 0,
    # One search or data-source query returns at most this many results,
    # then has_more false and request_status incomplete (notion-api.md §2.8).
    "query_result_limit": 10000,
    # max_file_upload_size_in_bytes in users/me (workspace_limits).
    "max_file_upload_size_in_bytes": 5242880,
}

_CHOICES = {"oauth_error_style": ("rfc", "notion")}
_BOOLS = ("reauth_same_bot", "refresh_revokes_old_access")
_NUMBERS = ("code_ttl_seconds", "search_index_lag_seconds", "cursor_ttl_seconds", "max_file_upload_size_in_bytes",
            "query_result_limit")


def merged(overrides):
    out = dict(DEFAULTS)
    apply(out, overrides or {})
    return out


def apply(current, updates):
    """Validates and applies updates; raises ValueError naming the bad key."""
    if not isinstance(updates, dict):
        raise ValueError("settings must be a JSON object")
    staged = dict(current)
    for key, value in updates.items():
        if key not in DEFAULTS:
            raise ValueError(f"unknown setting {key!r} (known: {', '.join(sorted(DEFAULTS))})")
        if key in _CHOICES and value not in _CHOICES[key]:
            raise ValueError(f"{key} must be one of {_CHOICES[key]}")
        if key in _BOOLS and not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
        if key in _NUMBERS and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise ValueError(f"{key} must be a non-negative number")
        staged[key] = value
    current.update(staged)
    return current
