"""Secret scanning: rules, a multi-pattern engine (hyperscan, or a pure-Python fallback with
the same results), precision checks, redaction and keyed fingerprints.

    from cievents.scanning import Scanner
    findings = Scanner().scan_text(text, path="job.log")
"""

from cievents.scanning.scanner import Finding, Scanner, warm

__all__ = ["Finding", "Scanner", "warm"]
