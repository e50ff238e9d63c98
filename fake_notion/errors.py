"""Error envelopes, with the codes and messages the real API uses.

Two families:
- ApiError: the Notion error object
  {"object":"error","status","code","message","additional_data"?,"request_id"}
  used by every /v1 route.
- OAuthError: token/introspect/revoke failures. Notion has been seen to answer
  these both RFC 6749 style ({"error","error_description"}) and with the
  Notion envelope (code = the OAuth error name); the style is a setting.
"""

SUPPORTED_VERSIONS = (
    "2021-05-11",
    "2021-05-13",
    "2021-08-16",
    "2022-02-22",
    "2022-06-28",
    "2025-09-03",
    "2026-03-11",
)


class ApiError(Exception):
    def __init__(self, status, code, message, additional_data=None, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.additional_data = additional_data
        self.headers = dict(headers or {})


def envelope(status, code, message, request_id, additional_data=None):
    # Key order as recorded from the real API.
    body = {"object": "error", "status": status, "code": code, "message": message}
    if additional_data is not None:
        body["additional_data"] = additional_data
    body["request_id"] = request_id
    return body


def quote_value(value):
    """How Notion's validator echoes a value: `"abc"`, `123`, `undefined`."""
    import json

    if value is _UNDEFINED:
        return "`undefined`"
    return "`" + json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "`"


class _Undefined:
    def __repr__(self):
        return "undefined"


_UNDEFINED = _Undefined()
UNDEFINED = _UNDEFINED


# --- /v1 errors -------------------------------------------------------------

def unauthorized():
    return ApiError(401, "unauthorized", "API token is invalid.")


def restricted():
    return ApiError(403, "restricted_resource", "API token does not have access to this resource.")


def not_found(kind, object_id, integration_name, integration_id):
    # kind is the word Notion uses: page, database, data_source, block.
    return ApiError(
        404,
        "object_not_found",
        f"Could not find {kind} with ID: {object_id}. Make sure the relevant pages and databases "
        f'are shared with your integration "{integration_name}".',
        additional_data={"integration_id": integration_id},
    )


def user_not_found(user_id, integration_id):
    return ApiError(
        404,
        "object_not_found",
        f"Could not find user with ID: {user_id}.",
        additional_data={"integration_id": integration_id},
    )


def validation(message):
    return ApiError(400, "validation_error", message)


def bad_path_id(name, raw):
    return validation(f"path failed validation: path.{name} should be a valid uuid, instead was {quote_value(raw)}.")


def invalid_request_url():
    return ApiError(400, "invalid_request_url", "Invalid request URL.")


def invalid_json():
    return ApiError(400, "invalid_json", "Error parsing JSON body.")


def invalid_request(message):
    return ApiError(400, "invalid_request", message)


def missing_version():
    return ApiError(
        400,
        "missing_version",
        "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",
    )


def bad_version():
    listed = ", ".join(f'"{v}"' for v in SUPPORTED_VERSIONS[:-1]) + f', or "{SUPPORTED_VERSIONS[-1]}"'
    return ApiError(
        400,
        "validation_error",
        f"Notion-Version header failed validation: Notion-Version header should be {listed}",
    )


def rate_limited(reason, retry_after):
    return ApiError(
        429,
        "rate_limited",
        "You have been rate limited. Please try again in a few minutes.",
        additional_data={"rate_limit_reason": reason, "retry_after": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def invalid_cursor(cursor):
    return validation(f"The start_cursor provided is invalid: {cursor}")


# Default code and message per status, for injected faults.
FAULT_DEFAULTS = {
    400: ("validation_error", "Injected validation error."),
    401: ("unauthorized", "API token is invalid."),
    403: ("restricted_resource", "API token does not have access to this resource."),
    404: ("object_not_found", "Could not find object."),
    409: ("conflict_error", "Conflict occurred while saving. Please try again."),
    429: ("rate_limited", "You have been rate limited. Please try again in a few minutes."),
    500: ("internal_server_error", "Unexpected error occurred."),
    502: ("bad_gateway", "Bad Gateway."),
    503: ("service_unavailable", "Notion is unavailable, please try again later."),
    504: ("gateway_timeout", "Gateway timeout."),
    529: ("service_overload", "Notion is currently overloaded, please try again later."),
}


# --- OAuth errors -----------------------------------------------------------

OAUTH_STATUS = {
    "invalid_grant": 400,
    "invalid_request": 400,
    "unsupported_grant_type": 400,
    "invalid_client": 401,
}


class OAuthError(Exception):
    def __init__(self, error, description):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = OAUTH_STATUS[error]


def oauth_body(err, style, request_id):
    if style == "notion":
        return envelope(err.status, err.error, err.description, request_id)
    # RFC 6749 §5.2 shape as observed from Notion; request_id added because
    # every JSON body the fake sends carries one (clients ignore extra keys).
    return {"error": err.error, "error_description": err.description, "request_id": request_id}
