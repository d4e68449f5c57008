"""Site text made safe for a terminal: a store named with escape sequences must not clear the
screen or retitle the terminal, and a newline must not fake a row of output."""

from __future__ import annotations

import re
import unicodedata
from enum import Enum

# C0 and C1 controls, the format characters that reorder text (bidi marks and overrides, the Arabic
# letter mark), invisible ones (zero-width spaces and joiners, word joiner, BOM), and the line and
# paragraph separators some terminals and editors break lines at.
UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def printable(text: str) -> str:
    """``text`` without control characters; line breaks and tabs become spaces."""
    text = re.sub(r"[\r\n\t]+", " ", text)
    return unicodedata.normalize("NFC", UNSAFE.sub("", text))


# The same characters as a JSON text may write them: escaped.
ESCAPED = re.compile(
    r"\\u00[01][0-9a-fA-F]|\\u00(7[fF]|[89][0-9a-fA-F])|\\u061[cC]|\\u20(0[b-fB-F]|2[89a-eA-E]|6[0-9])|\\u[fF][eE][fF]{2}"
    r"|\\[nrtbf]"
)


def needs_cleaning(raw: str) -> bool:
    """Whether any string of a JSON text could hold an unsafe character (cheap: one scan of the text)."""
    return bool(UNSAFE.search(raw) or ESCAPED.search(raw))


def cleaned(record):
    """A pydantic record with every string in it (nested records and lists too) made printable."""
    from pydantic import BaseModel

    def clean(value):
        if isinstance(value, Enum):  # a status is a word of ordermon's own, already checked
            return value
        if isinstance(value, str):
            return printable(value)
        if isinstance(value, BaseModel):
            return value.model_copy(update={name: clean(getattr(value, name)) for name in type(value).model_fields})
        if isinstance(value, list):
            return [clean(item) for item in value]
        if isinstance(value, dict):  # the site's words as keys too (an order's deadlines)
            return {clean(key): clean(item) for key, item in value.items()}
        return value

    return clean(record)
