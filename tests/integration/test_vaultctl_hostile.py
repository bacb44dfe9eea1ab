"""vaultctl against local attackers (issue #8): another user's file or link
where -o writes. Each test runs the real vaultctl, against the real vaultd or
a scripted fake one."""
import json
import os
import signal
import socket
import stat
import subprocess
import threading
import time

import pytest

from conftest import NOBODY, VAULTCTL


def ctl(sock, *args, umask=None, timeout=30):
    """The real vaultctl on sock; stdout and stderr as bytes."""
    return subprocess.run([VAULTCTL, "--socket", sock] + list(args), capture_output=True, timeout=timeout,
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


class ScriptedVaultd:
    """A Unix socket that answers each call with answer(method, params): a
    reply (dict) or a list of them, sent in turn (an empty list: no answer
    yet). Serves one connection after another until closed."""

    def __init__(self, path, answer):
        self.path, self.answer, self.calls = path, answer, 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.converse(conn)

    def converse(self, conn):
        buf = b""
        while True:
            try:
                chunk = conn.recv(1 << 16)
            except OSError:
                return
            if not chunk:
                return
            *calls, buf = (buf + chunk).split(b"\0")
            out = []
            for raw in calls:
                call = json.loads(raw)
                self.calls += 1
                replies = self.answer(call["method"], call.get("parameters") or {})
                for r in replies if isinstance(replies, list) else [replies]:
                    out.append(json.dumps(r).encode() + b"\0")
            try:
                conn.sendall(b"".join(out))
            except OSError:
                return

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        os.unlink(self.path)


@pytest.fixture
def scripted(vault_dir):
    servers = []

    def make(answer):
        s = ScriptedVaultd(os.path.join(vault_dir, "scripted-%d.sock" % len(servers)), answer)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()


def shared_dir(vault):
    """A directory every user may write, like /tmp."""
    d = os.path.join(vault.root, "shared")
    os.mkdir(d)
    os.chmod(d, 0o1777)
    return d


def planted(path, content=b""):
    """A file another user (nobody) created first, mode 0666, and keeps
    open to read what lands in it."""
    with open(path, "wb") as f:
        f.write(content)
    os.chown(path, NOBODY, NOBODY)
    os.chmod(path, 0o666)
    return open(path, "rb")


def assert_own_new_file(path, content, planted_file, planted_content):
    """path is a new file of the caller's, mode 0600, holding content; the
    planted inode kept what it held."""
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_ino != os.fstat(planted_file.fileno()).st_ino
    assert open(path, "rb").read() == content
    planted_file.seek(0)
    assert planted_file.read() == planted_content


# 1. get -o never writes into a file or link another user put there.

def test_get_output_does_not_write_into_another_users_file(vault):
    vault.ctl("put", "ncc", "NCC-1", "-", input=b"dossier", check=True)
    d = shared_dir(vault)
    path = os.path.join(d, "dossier.json")
    attacker = planted(path)
    r = vault.ctl("get", "ncc", "NCC-1", "-o", path)
    assert r.returncode == 1 and r.stdout == b"", r.stderr
    assert r.stderr == ("vaultctl: %s exists; vaultctl will not overwrite it, as an existing file may be "
                        "another user's (choose a new name, or add --force to replace it with a new file "
                        "of yours, mode 0600)\n" % path)
    assert attacker.read() == b"" and os.stat(path).st_uid == NOBODY
    # --force replaces the name with a new file; the planted inode stays empty.
    r = vault.ctl("get", "ncc", "NCC-1", "-o", path, "--force")
    assert r.returncode == 0, r.stderr
    assert_own_new_file(path, b"dossier", attacker, b"")
    assert os.listdir(d) == ["dossier.json"]  # no temporary file left


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "force"])
def test_get_output_refuses_a_symlink(vault, force):
    vault.ctl("put", "ncc", "NCC-1", "-", input=b"dossier", check=True)
    d = shared_dir(vault)
    target = os.path.join(d, "attacker-reads-this")
    attacker = planted(target)
    for link_to in (target, os.path.join(d, "not-yet-there")):
        link = os.path.join(d, "out.json")
        os.symlink(link_to, link)
        r = vault.ctl("get", "ncc", "NCC-1", "-o", link, *force, json_out=True)
        assert r.returncode == 1 and json.loads(r.stdout)["parameters"] == {"file": link,
                                                                           "reason": "symbolic link"}
        assert os.readlink(link) == link_to
        os.unlink(link)
    assert attacker.read() == b"" and sorted(os.listdir(d)) == ["attacker-reads-this"]


def test_get_output_is_0600_whatever_the_umask(vault, vault_dir):
    vault.ctl("put", "ncc", "NCC-1", "-", input=b"dossier", check=True)
    out = os.path.join(vault_dir, "new.json")
    r = ctl(vault.sock, "get", "ncc", "NCC-1", "-o", out, umask=0)
    assert r.returncode == 0 and stat.S_IMODE(os.stat(out).st_mode) == 0o600
    # A failed read leaves neither the file nor a temporary one.
    before = sorted(os.listdir(vault_dir))
    r = ctl(vault.sock, "get", "ncc", "NCC-404", "-o", out + "2")
    assert r.returncode == 6 and sorted(os.listdir(vault_dir)) == before
    r = ctl(vault.sock, "get", "ncc", "NCC-1", "--force")
    assert r.returncode == 2 and b"--force replaces the file given with -o FILE" in r.stderr


# 2. Audit exports: record ids, so 0600, and the same rules as get -o.

def test_audit_export_is_0600_and_replaced_only_with_force(vault):
    d = shared_dir(vault)
    path = os.path.join(d, "audit.jsonl")
    r = ctl(vault.sock, "audit", "export", "-o", path, umask=0)
    assert r.returncode == 0 and stat.S_IMODE(os.stat(path).st_mode) == 0o600, r.stderr
    os.unlink(path)
    attacker = planted(path, b"planted")
    r = ctl(vault.sock, "audit", "export", "-o", path)
    assert r.returncode == 1 and b"exists; vaultctl will not overwrite it" in r.stderr
    assert attacker.read() == b"planted"
    r = ctl(vault.sock, "audit", "export", "--force", "-o", path)
    assert r.returncode == 0, r.stderr
    assert_own_new_file(path, open(path, "rb").read(), attacker, b"planted")
    assert ctl(vault.sock, "audit", "verify", "--file", path).returncode == 0
    os.unlink(path)
    os.symlink(os.path.join(d, "elsewhere"), path)
    r = ctl(vault.sock, "audit", "export", "--force", "-o", path)
    assert r.returncode == 1 and b"is a symbolic link" in r.stderr and os.listdir(d) == ["audit.jsonl"]


EXPORT_HEAD = {"parameters": {"lines": ['{"format":"vaultd-audit-export/1"}']}, "continues": True}


def test_audit_export_that_fails_leaves_no_file(scripted, vault_dir):
    s = scripted(lambda m, p: [EXPORT_HEAD, {"error": "io.vaultd.audit.InternalError",
                                             "parameters": {"reason": "disk"}}])
    out = os.path.join(vault_dir, "export.jsonl")
    before = sorted(os.listdir(vault_dir))
    r = ctl(s.path, "audit", "export", "-o", out)
    assert r.returncode == 1 and b"InternalError" in r.stderr
    assert sorted(os.listdir(vault_dir)) == before


def test_audit_export_killed_midway_leaves_no_file(scripted, vault_dir):
    # The first part of the export, then nothing: vaultctl waits, is killed.
    s = scripted(lambda m, p: [EXPORT_HEAD])
    out = os.path.join(vault_dir, "export.jsonl")
    before = sorted(os.listdir(vault_dir))
    p = subprocess.Popen([VAULTCTL, "--socket", s.path, "audit", "export", "-o", out],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while len(os.listdir(vault_dir)) == len(before) and time.monotonic() < deadline:
        time.sleep(0.01)  # the temporary file appears
    assert len(os.listdir(vault_dir)) == len(before) + 1
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == -signal.SIGTERM
    assert sorted(os.listdir(vault_dir)) == before
