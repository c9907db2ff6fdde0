"""Format logic for VHDX (MS-VHDX v1.0): parsing, findings, planned writes.

Pure Python; never imports Textual or Rich. Public entry points:

- :func:`vhdxray.core.analysis.reader.read_report` reads an image into a :class:`Report`.
- :mod:`vhdxray.core.write.update` plans and performs the header double update.
- :mod:`vhdxray.core.write.create` writes new, spec-correct images.
"""
