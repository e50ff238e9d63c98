"""Notion object ids: parsing what clients send and minting stable ids.

Notion accepts ids with or without dashes, in any case, and always answers in
the dashed lowercase form. Notion's own ids are not RFC 4122 UUIDs (their
version nibble is often 8), so only the shape is checked: 32 hex digits,
either bare or dashed 8-4-4-4-12.
"""

import re
import uuid

_BARE = re.compile(r"^[0-9a-fA-F]{32}$")
_DASHED = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# Namespace for ids the fixture loader generates: the same fixture always
# yields the same ids, so tests and docs can name them.
_NAMESPACE = uuid.UUID("6f1a7c2e-9b43-4c1d-8e25-0d3b5a7f9c11")


def parse(value):
    """Returns the dashed lowercase form of an id, or None when it is not one."""
    if not isinstance(value, str):
        return None
    if _DASHED.match(value):
        return value.lower()
    if _BARE.match(value):
        return dashed(value)
    return None


def dashed(hex32):
    h = hex32.lower()
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def bare(value):
    return value.replace("-", "")


def stable(*parts):
    """A deterministic id for a generated fixture object."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(str(p) for p in parts)))


def fresh():
    return str(uuid.uuid4())
