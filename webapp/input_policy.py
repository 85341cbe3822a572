"""The one input policy at the edge: what no request may carry, checked before any view or query runs.

Every string a request brings — path segments, query parameters, form fields, JSON keys and values —
must be text the databases can store: no NUL character (PostgreSQL refuses it) and no lone UTF-16
surrogate (it cannot be encoded as UTF-8). JSON bodies are parsed once, with a nesting limit, so a
deeply nested body is a 400 instead of a RecursionError. A refusal is a ValidationError (400
INVALID_REQUEST) naming the field; a form page registered with `shows_refused_input` shows it next
to the field. The webhook is exempt: Stripe signs its raw bytes, and the signature is checked first.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from flask import Flask, request
from werkzeug.wrappers import Response

from webapp.errors import RefusedInput, ValidationError

# Deeper than any body the API documents (transactions are 2 levels down), shallow enough to walk cheaply.
MAX_JSON_DEPTH = 32
REFUSED_CHARACTER = "contains a character that is not allowed (NUL or an unpaired surrogate)"
MESSAGE = "Some fields contain characters that are not allowed."
# Endpoints whose body is checked elsewhere, on its exact bytes (the Stripe webhook).
RAW_BODY_ENDPOINTS = frozenset({"billing_webhook.receive"})
# The view attribute naming the function that renders a form page with refused fields next to them.
FORM_ATTRIBUTE = "refused_input_page"
_PARSED = "webapp.json_body"

V = TypeVar("V", bound=Callable[..., Any])
FormPage = Callable[[dict[str, str]], "Response | tuple[str, int] | str | None"]


def is_storable(text: str) -> bool:
    """True when `text` has no NUL and no lone surrogate (so both databases can store it)."""
    if text.isascii():
        return "\x00" not in text
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(name: str) -> str:
    """A field name fit to echo back (a refused name is itself refused text)."""
    if is_storable(name):
        return name
    return "".join(f"\\x{ord(c):02x}" if c == "\x00" else f"\\u{ord(c):04x}" if 0xD800 <= ord(c) <= 0xDFFF else c
                   for c in name)


def refused_fields(pairs: Iterable[tuple[str, object]]) -> dict[str, str]:
    """The fields among (name, value) pairs whose name or string value is not storable text."""
    problems: dict[str, str] = {}
    for name, value in pairs:
        if not is_storable(name) or (isinstance(value, str) and not is_storable(value)):
            problems[_shown(name)] = REFUSED_CHARACTER
    return problems


def check_text(fields: dict[str, str]) -> None:
    """Raise ValidationError naming each field whose text is not storable (for text read outside the edge)."""
    problems = refused_fields(fields.items())
    if problems:
        raise RefusedInput(MESSAGE, problems)


def _walk(value: Any, path: str, depth: int) -> Iterator[tuple[str, object]]:
    """Every (field path, string) in a parsed JSON value, refusing nesting past MAX_JSON_DEPTH."""
    stack: list[tuple[Any, str, int]] = [(value, path, depth)]
    while stack:
        node, where, level = stack.pop()
        if isinstance(node, (dict, list)) and level >= MAX_JSON_DEPTH:
            raise ValidationError("The request body is nested too deeply.",
                                  {where or "body": f"nested deeper than {MAX_JSON_DEPTH} levels"})
        if isinstance(node, dict):
            for key, item in node.items():
                child = f"{where}.{key}" if where else key
                yield child, key
                stack.append((item, child, level + 1))
        elif isinstance(node, list):
            stack.extend((item, f"{where}[{i}]", level + 1) for i, item in enumerate(node))
        elif isinstance(node, str):
            yield where or "body", node


def nested_deeper_than(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a parsed JSON value nests objects or arrays `limit` levels deep or more (iterative: any depth)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list)):
            if level >= limit:
                return True
            stack.extend((item, level + 1) for item in (node.values() if isinstance(node, dict) else node))
    return False


def load_json(raw: bytes) -> Any:
    """Parse a JSON body under the policy: valid JSON, at most MAX_JSON_DEPTH deep, storable strings only."""
    try:
        data = json.loads(raw)
    except RecursionError as exc:  # nested past the interpreter's own limit: certainly past ours
        raise ValidationError("The request body is nested too deeply.",
                              {"body": f"nested deeper than {MAX_JSON_DEPTH} levels"}) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError("The request body is not valid JSON.", {"body": f"malformed JSON: {exc}"}) from exc
    problems = refused_fields(_walk(data, "", 0))
    if problems:
        raise RefusedInput(MESSAGE, problems)
    return data


def parsed_json_body() -> Any:
    """The request's JSON body parsed under the policy, once per request (None when the body is empty)."""
    # Kept in the WSGI environ, not `g`: an app context (and its `g`) may outlive one request. (Asked
    # three times per API request: the policy, the gate and the view; `request` is looked up once each.)
    environ = request.environ
    if _PARSED not in environ:
        raw = request.get_data(cache=True)
        environ[_PARSED] = load_json(raw) if raw.strip() else None
    return environ[_PARSED]


def _wants_json_body() -> bool:
    return request.path.startswith("/api/") or request.mimetype == "application/json"


def check_request() -> None:
    """The before_request hook: refuse a request carrying unstorable text or an unparseable JSON body."""
    if request.endpoint in RAW_BODY_ENDPOINTS:
        return
    problems = refused_fields((request.view_args or {}).items())
    if request.query_string:  # no query string, no parameters (an API call's usual case: nothing to parse)
        problems.update(refused_fields(request.args.items(multi=True)))
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if _wants_json_body():  # /api/ bodies are JSON whatever their Content-Type (the runbook's curl -d)
            parsed_json_body()
        elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            problems.update(refused_fields(request.form.items(multi=True)))
            problems.update(refused_fields((name, f.filename or "") for name, f in request.files.items(multi=True)))
    if problems:
        raise RefusedInput(MESSAGE, problems)


def shows_refused_input(page: FormPage) -> Callable[[V], V]:
    """Mark a form view: when the policy refuses its input, `page(fields)` renders the form with them.

    `page` may return None (e.g. nobody is logged in), and the error page is shown instead.
    """

    def mark(view: V) -> V:
        setattr(view, FORM_ATTRIBUTE, page)
        return view

    return mark


def form_page_for_endpoint(app: Flask, endpoint: str | None) -> FormPage | None:
    """The form page registered for an endpoint's view, if any."""
    view = app.view_functions.get(endpoint or "")
    return getattr(view, FORM_ATTRIBUTE, None) if view is not None else None


def init_app(app: Flask) -> None:
    """Run the policy before every request (after CSRF and the rate limiter, which registered first)."""
    app.before_request(check_request)
