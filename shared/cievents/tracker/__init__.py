"""Issue trackers: Jira (through the ``jira`` package) and Azure Boards."""
