"""The systemd units: clean under systemd-analyze verify, hardened to an
exposure score of at most 1.0, and installed by make install."""
import os
import re
import shutil
import subprocess

from conftest import BUILD, REPO

UNITS = os.path.join(REPO, "packaging", "systemd")


def test_security_score_at_most_1():
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                        os.path.join(UNITS, "vaultd.service")], capture_output=True, text=True)
    m = re.search(r"Overall exposure level for vaultd.service: ([0-9.]+)", r.stdout)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 1.0, r.stdout


def test_units_verify_clean(tmp_path):
    # verify checks that ExecStart exists: point it at the binary just built.
    for name in ("vaultd.service", "vaultd.socket"):
        text = open(os.path.join(UNITS, name)).read()
        text = text.replace("/usr/sbin/vaultd", os.path.join(BUILD, "vaultd"))
        (tmp_path / name).write_text(text)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "vaultd.service"),
                        str(tmp_path / "vaultd.socket")], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr


def test_service_does_not_block_the_daemons_own_filter():
    # vaultd installs its own seccomp filter and sets rlimits; systemd's
    # allow-list must leave those calls open.
    text = open(os.path.join(UNITS, "vaultd.service")).read()
    allow = [l for l in text.splitlines() if l.startswith("SystemCallFilter=") and "~" not in l]
    assert allow and "seccomp" in allow[0].split()
    assert "LoadCredential=vaultd.key:" in text and "Type=notify" in text and "WatchdogSec=" in text


def test_make_install(tmp_path):
    dest = tmp_path / "root"
    r = subprocess.run(["make", "-s", "-C", REPO, "install", "BUILD=" + BUILD, "DESTDIR=" + str(dest),
                        "PREFIX=/usr"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for path in ("usr/sbin/vaultd", "usr/bin/vaultctl", "usr/lib/systemd/system/vaultd.service",
                 "usr/lib/systemd/system/vaultd.socket", "usr/lib/sysusers.d/vaultd.conf",
                 "usr/lib/tmpfiles.d/vaultd.conf", "etc/vaultd/vaultd.policy",
                 "usr/share/man/man8/vaultd.8", "usr/share/man/man1/vaultctl.1"):
        assert (dest / path).exists(), path
    assert os.access(dest / "usr/sbin/vaultd", os.X_OK)
    # An admin's policy is never overwritten.
    (dest / "etc/vaultd/vaultd.policy").write_text("allow user root role admin\n")
    r = subprocess.run(["make", "-s", "-C", REPO, "install", "BUILD=" + BUILD, "DESTDIR=" + str(dest),
                        "PREFIX=/usr"], capture_output=True, text=True)
    assert r.returncode == 0
    assert (dest / "etc/vaultd/vaultd.policy").read_text() == "allow user root role admin\n"
    # PREFIX reaches the unit's ExecStart.
    r = subprocess.run(["make", "-s", "-C", REPO, "install", "BUILD=" + BUILD,
                        "DESTDIR=" + str(tmp_path / "local"), "PREFIX=/usr/local"],
                       capture_output=True, text=True)
    unit = (tmp_path / "local/usr/local/lib/systemd/system/vaultd.service").read_text()
    assert "ExecStart=/usr/local/sbin/vaultd " in unit
