"""JSON from outside, with a depth limit and valid Unicode only.

Python's parser recurses once per nesting level: a body of a few thousand `[` raises
RecursionError (a 500) in the parser or in whatever walks the result next. Nothing the
API or the webhooks accept nests deeper than a few levels (a Stripe event about ten), so
anything deeper than JSON_MAX_DEPTH is refused as malformed input, before any code sees it.
"""

import codecs
import json

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils.json import strict_constant


def json_value_check(value, *, max_depth: int) -> None:
    """ValueError when containers in `value` nest deeper than `max_depth`, or a string in it
    (a key or a value) is not valid Unicode: JSON's `\\ud800` escapes decode to lone
    surrogates, which neither UTF-8 (the database, the response) nor anything else can
    carry; nor may one hold a NUL (`\\u0000`), which PostgreSQL text cannot store. Walked
    without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
            continue
        if isinstance(item, dict):
            for key in item:
                _check_text(key)
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            raise ValueError(f"JSON nested deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list | str))


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a string is not valid Unicode (a lone surrogate escape)") from None
    if "\x00" in text:
        # PostgreSQL text cannot hold it: stored, it would fail (a 500), not be refused.
        raise ValueError("a string contains a NUL character")


def json_loads_bounded(text: str, **kwargs):
    """`json.loads`, raising ValueError (never RecursionError) for input nested too deeply
    or with a string that is not valid Unicode."""
    try:
        value = json.loads(text, **kwargs)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    json_value_check(value, max_depth=settings.JSON_MAX_DEPTH)
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with those checks: a 400 like any malformed body."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = codecs.getreader(encoding)(stream).read()
            return json_loads_bounded(text, parse_constant=strict_constant if self.strict else None)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
