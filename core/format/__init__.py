"""Pure structures of MS-VHDX: parse bytes into values and findings, serialise values into bytes."""
