"""The log masker's rules across gunicorn's fork.

functions-framework imports a function (and so starts loading the masker's scanner rules on
a background thread) in gunicorn's arbiter, then forks the worker that serves requests. A
fork in the middle of that load handed the worker a module lock held by a thread it does not
have: its next import of the scanner hung for good (repo_inventory's first sync in the demo,
about one run in three) and its log lines were masked without the rules."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import os, secrets, string, sys
    from cievents import log

    log.register_secrets_from_env({})  # starts the background load, as a cold start does
    pid = os.fork()  # at once, as gunicorn's arbiter forks its worker
    if pid == 0:
        from cievents.scanning import Scanner  # must not hang
        key = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
        masked = log.mask("aws_secret_access_key = " + key)  # only the rules know this one
        assert Scanner is not None
        os._exit(3 if not log._rules.loaded else 4 if key in masked else 0)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
    """
)


def test_a_worker_forked_during_the_rules_load_has_the_rules_and_can_import() -> None:
    for _ in range(3):
        run = subprocess.run(
            [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=180, check=False
        )
        assert run.returncode == 0, run.stderr[-2000:]


ARMED = textwrap.dedent(
    """
    import os, secrets, string, sys, threading
    from cievents import log

    key = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))

    log.register_secrets_from_env({})  # a cold start arms the load...
    # ...but loads nothing in the process that will fork (the arbiter): no thread, no import
    assert not log._rules.loaded and "cievents.scanning" not in sys.modules
    assert not [t for t in threading.enumerate() if t.name == "log-rules"]
    pid = os.fork()
    if pid == 0:
        # the worker loads on its own thread as it is forked, and a line waits for it
        loading = [t for t in threading.enumerate() if t.name == "log-rules"]
        masked = log.mask("aws_secret_access_key = " + key)
        bad = 5 if not loading else 6 if not log._rules.loaded else 7 if key in masked else 0
        os._exit(bad)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    # the parent, never forked from again, loads at its first line
    masked = log.mask("aws_secret_access_key = " + key)
    sys.exit(code or (8 if not log._rules.loaded or key in masked else 0))
    """
)


def test_the_rules_load_in_the_forked_worker_not_on_the_cold_start_path() -> None:
    run = subprocess.run(
        [sys.executable, "-c", ARMED], capture_output=True, text=True, timeout=180, check=False
    )
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
