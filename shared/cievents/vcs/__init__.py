"""Source-control hosts: which one a repository lives on, and their status APIs."""
