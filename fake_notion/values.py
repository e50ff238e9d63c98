"""Rich text and property values: the stored form (identical to the response
form, minus property ids), built from fixture shorthand or validated from
request bodies (POST /v1/pages).

Validation messages follow the real API's style
("body failed validation: body.x should be ..., instead was `...`.",
"<Name> is not a property that exists.", "<Name> is expected to be select.").
"""

import hashlib
import re
from datetime import datetime
from urllib.parse import quote

from errors import quote_value, validation, UNDEFINED

MAX_TEXT = 2000
MAX_ARRAY = 100
MAX_URL = 2000
MAX_EMAIL = 200
MAX_PHONE = 200

COLORS = ("default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red")
ANNOTATION_DEFAULTS = {
    "bold": False,
    "italic": False,
    "strikethrough": False,
    "underline": False,
    "code": False,
    "color": "default",
}
# Property types the fake models (schema and values).
PROPERTY_TYPES = (
    "title",
    "rich_text",
    "select",
    "multi_select",
    "date",
    "number",
    "checkbox",
    "url",
    "email",
    "phone_number",
    "people",
)


def rich_text_item(content, link=None, annotations=None):
    ann = dict(ANNOTATION_DEFAULTS)
    if annotations:
        ann.update(annotations)
    return {
        "type": "text",
        "text": {"content": content, "link": {"url": link} if link else None},
        "annotations": ann,
        "plain_text": content,
        "href": link or None,
    }


def rich_text(content):
    """Fixture shorthand: a string becomes one text item; "" becomes []."""
    if content is None or content == "":
        return []
    if isinstance(content, list):
        return [rich_text_item(c) if isinstance(c, str) else rich_text_item(c["text"], c.get("link"), c.get("annotations"))
                for c in content]
    return [rich_text_item(content)]


def plain(items):
    return "".join(i.get("plain_text", "") for i in items or [])


def short_id(*parts, length=4):
    """Property and option ids look like Notion's: short, and URL-encoded
    (e.g. "%3AUPp"), so clients must treat them as opaque strings."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    charset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:;<=>?@[]^_`{|}~"
    raw = "".join(charset[b % len(charset)] for b in digest[:length])
    return quote(raw, safe="")


# --- schema -----------------------------------------------------------------

def schema_from_fixture(ds_id, spec):
    """{"Name": {"type": "title"}, "Status": {"type": "select", "options": [...]}}
    -> ordered {name: {"id","name","type","config"}}."""
    schema = {}
    titles = 0
    for name, prop in spec.items():
        kind = prop["type"]
        if kind not in PROPERTY_TYPES:
            raise ValueError(f"data source {ds_id}: property {name!r} has unsupported type {kind!r}")
        if kind == "title":
            titles += 1
        pid = "title" if kind == "title" else prop.get("id") or short_id(ds_id, name)
        config = {}
        if kind in ("select", "multi_select"):
            config = {"options": [make_option(ds_id, name, o, i) for i, o in enumerate(prop.get("options", []))]}
        elif kind == "number":
            config = {"format": prop.get("format", "number")}
        schema[name] = {"id": pid, "name": name, "description": prop.get("description"), "type": kind, "config": config}
    if titles != 1:
        raise ValueError(f"data source {ds_id}: needs exactly one title property, has {titles}")
    return schema


def make_option(ds_id, prop_name, option, index):
    if isinstance(option, str):
        option = {"name": option}
    return {
        "id": option.get("id") or short_id(ds_id, prop_name, option["name"]),
        "name": option["name"],
        "color": option.get("color") or COLORS[(index + 1) % len(COLORS)],
        "description": option.get("description"),
    }


def render_schema_property(prop):
    out = {"id": prop["id"], "name": prop["name"], "description": prop["description"], "type": prop["type"]}
    out[prop["type"]] = prop["config"]
    return out


def empty_value(kind):
    return {
        "title": [],
        "rich_text": [],
        "select": None,
        "multi_select": [],
        "date": None,
        "number": None,
        "checkbox": False,
        "url": None,
        "email": None,
        "phone_number": None,
        "people": [],
    }[kind]


def _partial_option(opt):
    return {"id": opt["id"], "name": opt["name"], "color": opt["color"]}


def value_from_fixture(schema_prop, raw):
    """Fixture shorthand -> stored value {"type": t, t: v}."""
    kind = schema_prop["type"]
    if raw is None:
        return {"type": kind, kind: empty_value(kind)}
    if kind in ("title", "rich_text"):
        v = rich_text(raw)
    elif kind == "select":
        v = _partial_option(_find_option(schema_prop, raw))
    elif kind == "multi_select":
        v = [_partial_option(_find_option(schema_prop, n)) for n in raw]
    elif kind == "date":
        v = {"start": raw, "end": None, "time_zone": None} if isinstance(raw, str) else {
            "start": raw["start"], "end": raw.get("end"), "time_zone": raw.get("time_zone")}
    elif kind == "people":
        v = list(raw)  # user ids; rendered per capability
    else:
        v = raw
    return {"type": kind, kind: v}


def _find_option(schema_prop, name):
    for opt in schema_prop["config"]["options"]:
        if opt["name"] == name:
            return opt
    raise ValueError(f"property {schema_prop['name']!r} has no option {name!r}")


# --- request validation -----------------------------------------------------

def _fail(path, expected, value):
    raise validation(f"body failed validation: {path} should be {expected}, instead was {quote_value(value)}.")


def rich_text_from_request(value, path):
    """Validates a request rich-text array (text and equation items)."""
    if not isinstance(value, list):
        _fail(path, "an array", value)
    if len(value) > MAX_ARRAY:
        raise validation(f"body failed validation: {path}.length should be ≤ `{MAX_ARRAY}`, instead was `{len(value)}`.")
    out = []
    for i, item in enumerate(value):
        ipath = f"{path}[{i}]"
        if not isinstance(item, dict):
            _fail(ipath, "an object", item)
        kind = item.get("type", "text" if "text" in item else "equation" if "equation" in item else None)
        ann = item.get("annotations")
        if ann is not None and not isinstance(ann, dict):
            _fail(f"{ipath}.annotations", "an object", ann)
        if kind == "text":
            text = item.get("text", UNDEFINED)
            if not isinstance(text, dict):
                _fail(f"{ipath}.text", "an object", text)
            content = text.get("content", UNDEFINED)
            if not isinstance(content, str):
                _fail(f"{ipath}.text.content", "a string", content)
            if len(content) > MAX_TEXT:
                raise validation(
                    f"body failed validation: {ipath}.text.content.length should be ≤ `{MAX_TEXT}`, instead was `{len(content)}`.")
            link = text.get("link")
            url = None
            if link is not None:
                if not isinstance(link, dict) or not isinstance(link.get("url"), str):
                    _fail(f"{ipath}.text.link", "an object with a url string", link)
                url = link["url"]
                if len(url) > MAX_URL:
                    raise validation(
                        f"body failed validation: {ipath}.text.link.url.length should be ≤ `{MAX_URL}`, instead was `{len(url)}`.")
            out.append(rich_text_item(content, url, ann))
        elif kind == "equation":
            eq = item.get("equation")
            expr = eq.get("expression") if isinstance(eq, dict) else None
            if not isinstance(expr, str):
                _fail(f"{ipath}.equation.expression", "a string", expr if expr is not None else UNDEFINED)
            if len(expr) > 1000:
                raise validation(
                    f"body failed validation: {ipath}.equation.expression.length should be ≤ `1000`, instead was `{len(expr)}`.")
            a = dict(ANNOTATION_DEFAULTS)
            a.update(ann or {})
            out.append({"type": "equation", "equation": {"expression": expr}, "annotations": a,
                        "plain_text": expr, "href": None})
        else:
            # Mentions need the whole mention model; say so instead of guessing.
            raise validation(f"body failed validation: {ipath} of type {kind!r} is not modelled by fake_notion "
                             "(text and equation are).")
    return out


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _valid_date(text):
    if not isinstance(text, str):
        return False
    try:
        if _DATE.match(text):
            datetime.strptime(text, "%Y-%m-%d")
            return True
        datetime.fromisoformat(text.replace("Z", "+00:00"))
        return "T" in text
    except ValueError:
        return False


def value_from_request(schema_prop, value, path, users_ok, can_add_options):
    """Validates one property value of POST /v1/pages against the schema and
    returns the stored form. users_ok(user_id) says whether a people id is
    a user of the workspace. New select options by name need the right to
    edit the schema (update_content)."""
    name = schema_prop["name"]
    kind = schema_prop["type"]
    if isinstance(value, list) and kind in ("title", "rich_text"):
        value = {kind: value}  # shorthand accepted by the API for text arrays
    if not isinstance(value, dict):
        _fail(path, "an object", value)
    declared = value.get("type")
    if declared is not None and declared != kind:
        raise validation(f"{name} is expected to be {kind}.")
    if kind not in value:
        present = [k for k in value if k != "type" and k != "id"]
        if present:
            raise validation(f"{name} is expected to be {kind}.")
        _fail(f"{path}.{kind}", "defined", UNDEFINED)
    raw = value[kind]
    vpath = f"{path}.{kind}"

    if kind in ("title", "rich_text"):
        v = rich_text_from_request(raw, vpath)
    elif kind == "select":
        v = None if raw is None else _partial_option(_option_from_request(schema_prop, raw, vpath, can_add_options))
    elif kind == "multi_select":
        if not isinstance(raw, list):
            _fail(vpath, "an array", raw)
        if len(raw) > MAX_ARRAY:
            raise validation(f"body failed validation: {vpath}.length should be ≤ `{MAX_ARRAY}`, instead was `{len(raw)}`.")
        v = [_partial_option(_option_from_request(schema_prop, o, f"{vpath}[{i}]", can_add_options))
             for i, o in enumerate(raw)]
    elif kind == "date":
        if raw is None:
            v = None
        else:
            if not isinstance(raw, dict):
                _fail(vpath, "an object or `null`", raw)
            start = raw.get("start", UNDEFINED)
            if not _valid_date(start):
                _fail(f"{vpath}.start", "a valid ISO 8601 date string", start)
            end = raw.get("end")
            if end is not None and not _valid_date(end):
                _fail(f"{vpath}.end", "a valid ISO 8601 date string or `null`", end)
            tz = raw.get("time_zone")
            if tz is not None and not isinstance(tz, str):
                _fail(f"{vpath}.time_zone", "a string or `null`", tz)
            v = {"start": start, "end": end, "time_zone": tz}
    elif kind == "number":
        if raw is not None and (isinstance(raw, bool) or not isinstance(raw, (int, float))):
            _fail(vpath, "a number or `null`", raw)
        v = raw
    elif kind == "checkbox":
        if not isinstance(raw, bool):
            _fail(vpath, "a boolean", raw)
        v = raw
    elif kind in ("url", "email", "phone_number"):
        limit = {"url": MAX_URL, "email": MAX_EMAIL, "phone_number": MAX_PHONE}[kind]
        if raw is not None and not isinstance(raw, str):
            _fail(vpath, "a string or `null`", raw)
        if raw is not None and len(raw) > limit:
            raise validation(f"body failed validation: {vpath}.length should be ≤ `{limit}`, instead was `{len(raw)}`.")
        v = raw
    elif kind == "people":
        if not isinstance(raw, list):
            _fail(vpath, "an array", raw)
        if len(raw) > MAX_ARRAY:
            raise validation(f"body failed validation: {vpath}.length should be ≤ `{MAX_ARRAY}`, instead was `{len(raw)}`.")
        import ids as _ids
        v = []
        for i, p in enumerate(raw):
            uid = _ids.parse(p.get("id")) if isinstance(p, dict) else None
            if uid is None:
                _fail(f"{vpath}[{i}].id", "a valid uuid", p.get("id", UNDEFINED) if isinstance(p, dict) else p)
            if not users_ok(uid):
                raise validation(f"Could not find user with ID: {uid}.")
            v.append(uid)
    else:  # pragma: no cover - schema_from_fixture rejects other types
        raise validation(f"{name} has a property type fake_notion does not model.")
    return {"type": kind, kind: v}


def _option_from_request(schema_prop, raw, path, can_add):
    if not isinstance(raw, dict):
        _fail(path, "an object", raw)
    options = schema_prop["config"]["options"]
    if "id" in raw and raw["id"] is not None:
        for opt in options:
            if opt["id"] == raw["id"]:
                return opt
        raise validation(f"body failed validation: {path}.id is not a valid option id for {schema_prop['name']}: "
                         f"{quote_value(raw['id'])}.")
    name = raw.get("name", UNDEFINED)
    if not isinstance(name, str) or not name:
        _fail(f"{path}.name", "a non-empty string", name)
    if "," in name:
        raise validation(f"body failed validation: {path}.name cannot contain commas, instead was {quote_value(name)}.")
    for opt in options:
        if opt["name"] == name:
            return opt
    if not can_add:
        # [UNV] exact wording: creating options needs schema edit rights.
        raise validation(f"Cannot create new select option {name!r} for {schema_prop['name']}: "
                         "the integration cannot update this data source's schema.")
    opt = make_option("new", schema_prop["id"], {"name": name}, len(options))
    options.append(opt)
    return opt
