"""Parts of a :class:`Report` that a test expects to be there: each fails the test (not a
type checker) when the image lacks it."""

from __future__ import annotations

from pathlib import Path

from vhdxray.core.analysis.reader import Report, read_report
from vhdxray.core.format.header import Header
from vhdxray.core.format.log import LogInfo
from vhdxray.core.format.metadata import Metadata


def _report(image: Path | Report) -> Report:
    return image if isinstance(image, Report) else read_report(image)


def effective_header(image: Path | Report) -> Header:
    header = _report(image).effective_header
    assert header is not None, "no usable header"
    return header


def current_slot(image: Path | Report) -> int:
    slot = _report(image).current_header
    assert slot is not None, "no current header"
    return slot


def headers(image: Path | Report) -> tuple[Header, Header]:
    pair = _report(image).headers
    assert pair is not None, "the header slots could not be read"
    return pair


def metadata(image: Path | Report) -> Metadata:
    meta = _report(image).metadata
    assert meta is not None, "no metadata"
    return meta


def log(image: Path | Report) -> LogInfo:
    info = _report(image).log
    assert info is not None, "no log"
    return info
