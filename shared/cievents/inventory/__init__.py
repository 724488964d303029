"""Repository inventory: every repository on GitHub, GitLab, Bitbucket Cloud and Azure Repos.

``cievents.inventory.model.Repo`` is the one record (an asset, keyed by ``scm:id``). Listing,
the ``assets`` store and the sync build on it; the posture audit
(``cievents.inventory.posture``) and the scan of committed code
(``cievents.inventory.committed``) take a ``Repo`` too.
"""

from __future__ import annotations

from cievents.inventory.model import SCMS, VISIBILITIES, Repo, Scm, Visibility, parse_time

__all__ = ["SCMS", "VISIBILITIES", "Repo", "Scm", "Visibility", "parse_time"]
