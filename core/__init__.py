"""Format logic for VHDX (MS-VHDX v1.0): parsing, findings, planned writes.

Pure Python; never imports Textual or Rich. Public entry points:

- :func:`vhdxray.core.reader.read_report` reads an image into a :class:`Report`.
- :mod:`vhdxray.core.update` plans and performs the header double update.
- :mod:`vhdxray.core.create` writes new, spec-correct images.
"""
