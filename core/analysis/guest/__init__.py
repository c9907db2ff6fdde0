"""Guest triage: partition tables and filesystems inside a virtual disk (see triage.py)."""

from vhdxray.core.analysis.guest.base import VirtualReader
from vhdxray.core.analysis.guest.triage import GuestReport, Partition, triage

__all__ = ["GuestReport", "Partition", "VirtualReader", "triage"]
