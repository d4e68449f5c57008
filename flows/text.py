"""Site text made safe for a terminal: a store named with escape sequences must not clear the
screen or retitle the terminal, and a newline must not fake a row of output."""

from __future__ import annotations

import re
import unicodedata

# C0 and C1 controls, and the format characters that reorder text (bidi overrides).
UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` without control characters; line breaks and tabs become spaces."""
    text = re.sub(r"[\r\n\t]+", " ", text)
    return unicodedata.normalize("NFC", UNSAFE.sub("", text))
