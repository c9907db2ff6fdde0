"""The one door for strings that come from an image (creator, paths, locator values, error text).

Two dangers, two defences:

- *Markup*: Textual parses ``str`` given to ``Static``, table cells, titles and notifications as
  markup, so ``[@click=app.quit]`` in a creator string would become a live link and a stray
  ``[/bold]`` would crash the app. Everything here returns :class:`rich.text.Text`, which Textual
  never parses.
- *Control characters*: ESC, NUL, C1 controls and bidi overrides (U+202E) would reach the
  terminal. :func:`vhdxray.core.format.text.printable` replaces them with visible escapes first.

Never build markup strings from image data; compose ``Text`` objects with :func:`join` instead.
"""

from __future__ import annotations

from rich.text import Text

from vhdxray.core.format.text import printable


def _styled(text: str, style: str) -> Text:
    # The style covers these characters only (a span), not text appended later.
    out = Text()
    out.append(text, style=style or None)
    return out


def safe(value: object, style: str = "") -> Text:
    """``value`` as literal text: control and bidi characters escaped, never parsed as markup."""
    return _styled(printable(str(value)), style)


def safe_bytes(raw: bytes, style: str = "") -> Text:
    """Raw bytes (e.g. a 4-byte signature) as literal Latin-1 text with controls escaped."""
    return safe(raw.decode("latin-1"), style)


def join(*parts: Text | str | tuple[str, str]) -> Text:
    """Concatenate pieces into one ``Text``.

    A ``str`` part is *our own constant* text (never image data) and is added literally; a
    ``(text, style)`` tuple adds our own text with a style; ``Text`` parts (from :func:`safe`)
    keep their styles.
    """
    out = Text()
    for part in parts:
        if isinstance(part, Text):
            out.append_text(part)
        elif isinstance(part, tuple):
            out.append(part[0], style=part[1])
        else:
            out.append(part)
    return out


def plain(text: str, style: str = "") -> Text:
    """Our own text (no image data) as ``Text``; still never parsed as markup."""
    return _styled(text, style)


__all__ = ["join", "plain", "safe", "safe_bytes"]
