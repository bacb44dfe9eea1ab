"""The running daemon is confined: seccomp filter, no new privileges, not root."""
import os
import pwd
import subprocess

from conftest import VAULTD, Vault


def proc_status(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def test_daemon_is_confined(vault):
    st = proc_status(vault.proc.pid)
    assert st["Seccomp"] == "2"          # filter mode
    assert st["NoNewPrivs"] == "1"
    nobody = pwd.getpwnam("nobody")
    assert st["Uid"].split() == [str(nobody.pw_uid)] * 4
    assert st["Gid"].split() == [str(nobody.pw_gid)] * 4
    assert st["Groups"] in ("", str(nobody.pw_gid))
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
    # Not dumpable: no core file, no ptrace attach by the same user.
    with open("/proc/%d/limits" % vault.proc.pid) as f:
        limits = f.read()
    assert "Max core file size        0" in limits
    assert vault.ctl("status", json_out=True).json["sandbox"] == "seccomp+landlock"
    # Still serving every kind of request under the filter.
    assert vault.ctl("put", "c", "A-1", "-", input=b"x").returncode == 0
    assert vault.ctl("audit", "verify").returncode == 0


def test_no_sandbox_is_loud_and_off(vault_dir):
    v = Vault(vault_dir, extra_args=["--no-sandbox"])
    v.start()
    try:
        assert proc_status(v.proc.pid)["Seccomp"] == "0"
        assert v.ctl("status", json_out=True).json["sandbox"] == "off"
        assert "SANDBOX DISABLED" in v.read_log()
    finally:
        assert v.stop() == 0


def test_root_without_account_refuses(vault_dir):
    v = Vault(vault_dir)
    p = subprocess.run([VAULTD, "--state-dir", v.state, "--key-file", v.key, "--policy", v.policy,
                        "--socket", v.sock, "--user", "no-such-vaultd-user"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1 and "does not exist" in p.stderr


def test_allow_root_keeps_root_with_warning(vault_dir):
    v = Vault(vault_dir, extra_args=["--allow-root"])
    v.start()
    try:
        st = proc_status(v.proc.pid)
        assert st["Uid"].split()[0] == "0" and st["Seccomp"] == "2"
        assert "running as root" in v.read_log()
    finally:
        assert v.stop() == 0
