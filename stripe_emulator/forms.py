"""Decode Stripe's form encoding (`a[b][0][c]=v`, `expand[]=x`) into nested dicts.

Every container is decoded as a dict; `[]` appends under the next free numeric key. The
parameter schema later turns numeric-keyed dicts into lists where Stripe expects a list.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from .errors import invalid

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def split_key(key: str) -> list[str]:
    """Split `a[b][0][]` into ["a", "b", "0", ""]; a malformed key raises a 400."""
    head, _, rest = key.partition("[")
    if not rest:
        return [key]
    rest = "[" + rest
    segments = _SEGMENT.findall(rest)
    if "".join(f"[{s}]" for s in segments) != rest or not head:
        raise invalid(f"Invalid parameter name: {key}", key)
    return [head, *segments]


def decode_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Build the nested parameter tree from decoded (key, value) pairs."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        segments = split_key(key)
        node = root
        for depth, seg in enumerate(segments):
            last = depth == len(segments) - 1
            if seg == "":
                seg = str(_next_index(node))
            if last:
                if isinstance(node.get(seg), dict):
                    raise invalid(f"Invalid hash: {display(segments[:depth + 1])}",
                                  display(segments[:depth + 1]))
                node[seg] = value
                break
            child = node.get(seg)
            if child is None:
                child = node[seg] = {}
            elif not isinstance(child, dict):
                name = display(segments[:depth + 1])
                raise invalid(f"Invalid hash: {name} cannot be both a value and a hash", name)
            node = child
    return root


def is_index(key: str) -> bool:
    """A list index: ASCII digits only (str.isdigit also takes "²", which int() refuses)."""
    return key.isascii() and key.isdigit()


def _next_index(node: dict[str, Any]) -> int:
    indexes = [int(k) for k in node if is_index(k)]
    return max(indexes) + 1 if indexes else 0


def display(segments: list[str]) -> str:
    """Render a parameter path as Stripe names it in errors: `line_items[0][price]`."""
    if not segments:
        return ""
    return segments[0] + "".join(f"[{s}]" for s in segments[1:])
