"""One container booting Debian's systemd 252 as PID 1 for the whole system
suite (../shared/tools/systemd-container), with the .deb under test bound in.

Everything runs inside the container through `exec` (nsenter): the unit has
PrivateTmp= and its socket lives in the container's /run. The container's
root is a copy-on-write overlay of the host's, so installing the package,
adding accounts and writing keys there changes nothing on the host.
"""
import os
import shlex
import subprocess
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOOL = os.environ.get("SYSTEMD_CONTAINER") or os.path.join(
    REPO, "..", "shared", "tools", "systemd-container", "systemd-container.sh")
NAME = "vaultd-system-%d" % os.getpid()

# nspawn (systemd 252) puts every process of the container under its own
# seccomp allow-list, which the container's services inherit. That list
# lacks the Landlock calls (newer nspawn adds them) and has @memlock only
# when the container keeps CAP_IPC_LOCK; either gap makes vaultd fail or
# warn in a way no real host would. Allow exactly those, nothing more; the
# unit's own SystemCallFilter= then decides, as on a host.
NSPAWN_ARGS = " ".join("--system-call-filter=" + s for s in (
    "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self", "@memlock"))


class Container:
    def __init__(self, deb):
        self.deb = os.path.abspath(deb)
        self.env = dict(os.environ, SYSD_NSPAWN_ARGS=NSPAWN_ARGS)

    def tool(self, *args, timeout=120, check=True):
        r = subprocess.run([TOOL, "-n", NAME] + list(args), env=self.env, capture_output=True,
                           text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, "%s: %s%s" % (args, r.stdout, r.stderr)
        return r

    def start(self):
        self.tool("start", os.path.dirname(self.deb))

    def stop(self):
        self.tool("stop", check=False)

    def sh(self, script, input=None, check=True, timeout=60):
        """Runs a shell script inside as root; returns the CompletedProcess
        (text) and, with check, asserts it succeeded."""
        r = subprocess.run([TOOL, "-n", NAME, "exec", "sh", "-c", script], env=self.env, input=input,
                           capture_output=True, text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, "%s\n-> %d\n%s%s" % (script, r.returncode, r.stdout, r.stderr)
        return r

    def as_user(self, user, *argv, input=None):
        """argv run inside as user (runuser: the user's own groups)."""
        return self.sh("runuser -u %s -- %s" % (user, " ".join(shlex.quote(a) for a in argv)),
                       input=input, check=False)

    def show(self, unit, prop):
        return self.sh("systemctl show -p %s --value %s" % (prop, unit)).stdout.strip()

    def wait_for(self, what, predicate, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            assert time.monotonic() < deadline, "timed out waiting for " + what
            time.sleep(0.2)


@pytest.fixture(scope="session")
def box():
    deb = os.environ.get("VAULTD_DEB")
    assert deb and os.path.exists(deb), "VAULTD_DEB must name the .deb to test (make check-system)"
    c = Container(deb)
    c.start()
    try:
        # This host is a Docker image: its policy-rc.d forbids maintainer
        # scripts to start or stop any service. A real machine has none.
        c.sh("rm -f /usr/sbin/policy-rc.d")
        yield c
    finally:
        c.stop()
