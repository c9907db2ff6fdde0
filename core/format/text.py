"""Make hostile strings from an image safe to show: no control or bidi characters survive.

Creator strings and parent locator paths come from the file. Shown raw, ESC sequences
could retitle or repaint the terminal and U+202E could reverse what the user reads. Every
character in Unicode categories Cc, Cf, Zl, Zp (and lone surrogates, Cs) is replaced by a
visible escape: ``\\x1b``, ``\\u202e``. Markup safety is the display layer's job (it must
never parse these strings as markup); this only handles characters.
"""

from __future__ import annotations

_UNSAFE = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"))


def printable(text: str) -> str:
    """``text`` with every unsafe character replaced by a visible escape sequence."""
    if text.isascii() and text.isprintable():
        return text
    import unicodedata  # only for text that is not plain printable ASCII (an extension module)

    out: list[str] = []
    for ch in text:
        if unicodedata.category(ch) in _UNSAFE:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


MAX_SHOWN = 400
"""Characters of one image string (a locator key or value) spelled out; the rest is counted."""


def clip(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` cut to ``limit`` characters, saying how many there are in all (a 32,000-character
    path from a hostile locator must not flood a report or a view)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"
