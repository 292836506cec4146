"""What the benchmark scripts share (bench.py, callgrind.py, rediscover.py):
children started in their own process groups, so that ending them ends
exactly what a script started, and waiting for a condition with a bound."""

import os
import signal
import subprocess
import sys
import time


class Procs:
    """One script's children, its log prefix and its work dir.

    `wait_timeout` and `wait_every` are the script's bounds for `wait_for`;
    `grace` is how long a child has to exit after SIGTERM before SIGKILL.
    """

    def __init__(self, tag, work, wait_timeout, wait_every, grace=10):
        self.tag = tag
        self.work = work
        self.wait_timeout = wait_timeout
        self.wait_every = wait_every
        self.grace = grace
        self.children = []
        # A child sees only a search path and a home of its own.
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "HOME": os.path.join(work, "home")}

    def log(self, msg):
        print(f"{self.tag} [{time.strftime('%H:%M:%S')}]: {msg}", file=sys.stderr, flush=True)

    def spawn(self, cmd, out, env=None):
        """Starts `cmd` with stdout and stderr in the file `out`."""
        e = dict(self.env)
        e.update(env or {})
        # Own process group, so that end_all ends exactly what we started.
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=open(out, "wb"),
                             stderr=subprocess.STDOUT, env=e, start_new_session=True)
        self.children.append(p)
        return p

    def end_all(self):
        """SIGTERM to every child's group, newest first; SIGKILL after the grace."""
        for p in reversed(self.children):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.children:
            try:
                p.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)

    def wait_for(self, what, fn, timeout=None, every=None):
        """Polls `fn` until it returns something true, and returns that;
        exits the script naming `what` when the bound passes first."""
        end = time.time() + (self.wait_timeout if timeout is None else timeout)
        while time.time() < end:
            v = fn()
            if v:
                return v
            time.sleep(self.wait_every if every is None else every)
        raise SystemExit(f"{self.tag}: timed out waiting for {what} (see {self.work})")
