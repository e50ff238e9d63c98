"""Data-source query filters and sorts: the subset the fake models.

Supported: compound and/or; property filters on title, rich_text, url, email,
phone_number (text conditions), number, checkbox, select, multi_select, date,
people; timestamp filters on created_time/last_edited_time; sorts by property
or timestamp. Anything else is a 400 that says it is not modelled, rather
than a silently wrong result.
"""

from errors import quote_value, validation
import values

TEXT_TYPES = ("title", "rich_text", "url", "email", "phone_number")
_TEXT_OPS = ("equals", "does_not_equal", "contains", "does_not_contain", "starts_with", "ends_with", "is_empty",
             "is_not_empty")
_NUMBER_OPS = ("equals", "does_not_equal", "greater_than", "less_than", "greater_than_or_equal_to",
               "less_than_or_equal_to", "is_empty", "is_not_empty")
_DATE_OPS = ("equals", "before", "after", "on_or_before", "on_or_after", "is_empty", "is_not_empty")
_OPS = {
    "text": _TEXT_OPS,
    "number": _NUMBER_OPS,
    "checkbox": ("equals", "does_not_equal"),
    "select": ("equals", "does_not_equal", "is_empty", "is_not_empty"),
    "multi_select": ("contains", "does_not_contain", "is_empty", "is_not_empty"),
    "date": _DATE_OPS,
    "people": ("contains", "does_not_contain", "is_empty", "is_not_empty"),
}


def _family(kind):
    return "text" if kind in TEXT_TYPES else kind


def find_property(schema, key):
    if key in schema:
        return schema[key]
    for prop in schema.values():
        if prop["id"] == key:
            return prop
    return None


def _text_of(stored, kind):
    v = stored[kind]
    if kind in ("title", "rich_text"):
        return values.plain(v)
    return v


def _cell(row, prop):
    stored = row.props.get(prop["name"])
    if stored is None:
        return values.empty_value(prop["type"])
    return _text_of(stored, prop["type"]) if prop["type"] in TEXT_TYPES else stored[prop["type"]]


def _date_key(text):
    # Date-only values compare on the day; datetimes on the full string
    # (fixtures use UTC "Z" datetimes, so string order is time order).
    return text[:10] if text and len(text) == 10 else text


def _check_text(cell, op, arg):
    cell = cell or ""
    if op == "is_empty":
        return cell == ""
    if op == "is_not_empty":
        return cell != ""
    if not isinstance(arg, str):
        raise validation(f"body failed validation: filter value for {op} should be a string, instead was {quote_value(arg)}.")
    return {
        "equals": cell == arg,
        "does_not_equal": cell != arg,
        "contains": arg.lower() in cell.lower(),
        "does_not_contain": arg.lower() not in cell.lower(),
        "starts_with": cell.lower().startswith(arg.lower()),
        "ends_with": cell.lower().endswith(arg.lower()),
    }[op]


def _check(kind, cell, op, arg):
    fam = _family(kind)
    if fam == "text":
        return _check_text(cell, op, arg)
    if op == "is_empty":
        return cell in (None, [], "")
    if op == "is_not_empty":
        return cell not in (None, [], "")
    if fam == "number":
        if cell is None:
            return op == "does_not_equal"
        return {
            "equals": cell == arg,
            "does_not_equal": cell != arg,
            "greater_than": cell > arg,
            "less_than": cell < arg,
            "greater_than_or_equal_to": cell >= arg,
            "less_than_or_equal_to": cell <= arg,
        }[op]
    if fam == "checkbox":
        return (cell == arg) if op == "equals" else (cell != arg)
    if fam == "select":
        name = cell["name"] if cell else None
        return (name == arg) if op == "equals" else (name != arg)
    if fam == "multi_select":
        names = [o["name"] for o in cell or []]
        return (arg in names) if op == "contains" else (arg not in names)
    if fam == "people":
        return (arg in (cell or [])) if op == "contains" else (arg not in (cell or []))
    if fam == "date":
        start = cell["start"] if cell else None
        if start is None:
            return False
        a, b = _date_key(start), _date_key(arg if isinstance(arg, str) else "")
        if len(b) == 10:
            a = a[:10]
        return {"equals": a == b, "before": a < b, "after": a > b, "on_or_before": a <= b, "on_or_after": a >= b}[op]
    raise AssertionError(fam)


def _condition(cond, family, path):
    if not isinstance(cond, dict) or len(cond) != 1:
        raise validation(f"body failed validation: {path} should be an object with exactly one condition, "
                         f"instead was {quote_value(cond)}.")
    op, arg = next(iter(cond.items()))
    if op not in _OPS[family]:
        raise validation(f"body failed validation: {path}.{op} is not a {family} filter condition fake_notion models "
                         f"({', '.join(_OPS[family])}).")
    return op, arg


def compile_filter(spec, schema, path="body.filter", depth=0):
    """Returns a predicate row -> bool."""
    if spec is None:
        return lambda row: True
    if not isinstance(spec, dict):
        raise validation(f"body failed validation: {path} should be an object, instead was {quote_value(spec)}.")
    if depth > 2:
        raise validation("body failed validation: filters can nest at most two levels deep.")
    for combinator in ("and", "or"):
        if combinator in spec:
            parts = spec[combinator]
            if not isinstance(parts, list):
                raise validation(f"body failed validation: {path}.{combinator} should be an array, "
                                 f"instead was {quote_value(parts)}.")
            preds = [compile_filter(p, schema, f"{path}.{combinator}[{i}]", depth + 1) for i, p in enumerate(parts)]
            if combinator == "and":
                return lambda row: all(p(row) for p in preds)
            return lambda row: any(p(row) for p in preds)
    if "timestamp" in spec:
        ts = spec["timestamp"]
        if ts not in ("created_time", "last_edited_time"):
            raise validation(f"body failed validation: {path}.timestamp should be `\"created_time\"` or "
                             f"`\"last_edited_time\"`, instead was {quote_value(ts)}.")
        op, arg = _condition(spec.get(ts), "date", f"{path}.{ts}")
        from clock import iso_minute

        def pred(row):
            t = row.created_time if ts == "created_time" else row.last_edited_time
            return _check("date", {"start": iso_minute(t)}, op, arg)
        return pred
    key = spec.get("property")
    if not isinstance(key, str):
        raise validation(f"body failed validation: {path}.property should be a string, instead was "
                         f"{quote_value(key)}.")
    prop = find_property(schema, key)
    if prop is None:
        raise validation(f"Could not find property with name or id: {key}")
    kinds = [k for k in spec if k != "property"]
    if len(kinds) != 1:
        raise validation(f"body failed validation: {path} should name exactly one property type.")
    kind = kinds[0]
    if kind == "status" or kind not in values.PROPERTY_TYPES:
        raise validation(f"body failed validation: {path}.{kind} filters are not modelled by fake_notion.")
    if _family(kind) != _family(prop["type"]):
        raise validation(f"body failed validation: {path}: property {prop['name']!r} is of type {prop['type']}, "
                         f"not {kind}.")
    op, arg = _condition(spec[kind], _family(kind), f"{path}.{kind}")
    return lambda row: _check(prop["type"], _cell(row, prop), op, arg)


def sort_rows(rows, sorts, schema):
    if sorts is None:
        return rows
    if not isinstance(sorts, list):
        raise validation(f"body failed validation: body.sorts should be an array, instead was {quote_value(sorts)}.")
    out = list(rows)
    for i, s in reversed(list(enumerate(sorts))):
        if not isinstance(s, dict):
            raise validation(f"body failed validation: body.sorts[{i}] should be an object, instead was {quote_value(s)}.")
        direction = s.get("direction", "ascending")
        if direction not in ("ascending", "descending"):
            raise validation(f"body failed validation: body.sorts[{i}].direction should be `\"ascending\"` or "
                             f"`\"descending\"`, instead was {quote_value(direction)}.")
        if "timestamp" in s:
            ts = s["timestamp"]
            if ts not in ("created_time", "last_edited_time"):
                raise validation(f"body failed validation: body.sorts[{i}].timestamp should be `\"created_time\"` or "
                                 f"`\"last_edited_time\"`, instead was {quote_value(ts)}.")
            keyf = (lambda r, ts=ts: (0, r.created_time if ts == "created_time" else r.last_edited_time))
        else:
            prop = find_property(schema, s.get("property", ""))
            if prop is None:
                raise validation(f"Could not find sort property with name or id: {s.get('property')}")

            def keyf(r, prop=prop):
                v = _cell(r, prop)
                if isinstance(v, dict):
                    v = v.get("name") or v.get("start")
                if isinstance(v, list):
                    v = ",".join(o["name"] if isinstance(o, dict) else str(o) for o in v)
                if v in (None, ""):
                    return (1, "")
                return (0, v.lower() if isinstance(v, str) else v)
        empties = [r for r in out if keyf(r)[0] == 1]
        filled = [r for r in out if keyf(r)[0] == 0]
        filled.sort(key=lambda r: keyf(r)[1], reverse=(direction == "descending"))
        out = filled + empties  # empty values last, either direction
    return out
