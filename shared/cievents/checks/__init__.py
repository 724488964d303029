"""Connection checks: every configured integration tested with a harmless call.

Used by ``cievents check`` (people, CI) and by the ``health`` function
(Cloud Scheduler). Only integrations that are configured in the environment
are checked; each check has a timeout and never prints a secret.
"""
