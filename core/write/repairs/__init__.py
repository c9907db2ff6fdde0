"""Repairs, one module per kind. Each declares its id, title, the finding codes it answers,
its backup operations, a pure ``plan`` and a ``run`` that writes through one
:class:`~vhdxray.core.write.session.WriteSession`.

The kinds planned by :mod:`vhdxray.core.write.repair` (log replay, stale LogGuid, region
tables, headers) are still planned there; new kinds (relink) live here.
"""
