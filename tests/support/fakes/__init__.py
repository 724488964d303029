"""Loopback fakes of vendor APIs, one module per vendor, built on ``tests.support.fakehttp``.

Each speaks the vendor's documented request and response shapes closely enough
for the real client code to run against it unchanged; tests assert on what the
fake received. Extend a vendor's module rather than writing a second fake.
"""
