"""Every write: plans, the write path (lock, backup, write, fsync, verify), backups and repairs."""
