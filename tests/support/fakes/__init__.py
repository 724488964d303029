"""Loopback fakes of the vendor APIs the functions write to (one module per vendor)."""
