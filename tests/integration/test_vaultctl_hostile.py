"""vaultctl against local attackers (issue #8): another user's file or link
where -o writes, strings from a forged export or a hostile server that would
drive the terminal, and a server whose pages never end. Each test runs the
real vaultctl, against the real vaultd or a scripted fake one."""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import NOBODY, VAULTCTL

# What a terminal would act on, in vaultctl's human output: C0 controls but
# the newline, DEL, and C1 controls (U+0080-U+009F in UTF-8).
TERMINAL_CONTROLS = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")
# Strings a hostile server or file sends, and how vaultctl must show them:
# erase the line and rewrite it, a C1 CSI, a right-to-left override, a
# window title; Vietnamese stays as it is.
HOSTILE = "\r\x1b[2KOK \x9b31m \u202eNguy\u1ec5n \x1b]0;owned\x07"
SHOWN = "\\r\\x1b[2KOK \\u009b31m \\u202eNguy\u1ec5n \\x1b]0;owned\\x07"


def assert_no_controls(*outputs):
    for out in outputs:
        out = out if isinstance(out, bytes) else out.encode()
        assert not TERMINAL_CONTROLS.search(out), out


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


# 3. Strings from a file or from the server are escaped in human output.

def forged_export(vault):
    """A real export whose header names a verifier key that writes a fake
    "OK" line over the error on a terminal."""
    vault.ctl("put", "c", "F-1", "-", input=b"x", check=True)
    lines = vault.export().split(b"\n")
    header = json.loads(lines[0])
    header["verifier_key"] = HOSTILE + " verifies: 9 audit lines\x1b[8m"
    lines[0] = json.dumps(header, ensure_ascii=False).encode()
    path = os.path.join(vault.root, "forged.jsonl")
    open(path, "wb").write(b"\n".join(lines))
    return path


def test_verify_file_shows_a_forged_header_escaped(vault):
    key = vault.ctl("audit", "head", json_out=True).json["verifier_key"]
    path = forged_export(vault)
    r = ctl(vault.sock, "audit", "verify", "--file", path, "--key", key)
    assert r.returncode == 3 and r.stdout == b""
    err = r.stderr.decode()
    assert_no_controls(r.stderr)
    assert err.startswith("vaultctl: %s does NOT verify: line 1 of the file: the export's checkpoints "
                          "start with verifier key %s verifies: 9 audit lines\\x1b[8m, not the one given"
                          % (path, SHOWN)), err
    # --json keeps the text as it is, escaped by JSON.
    r = ctl(vault.sock, "--json", "audit", "verify", "--file", path, "--key", key)
    assert r.returncode == 3 and b"\x1b" not in r.stdout
    assert HOSTILE in json.loads(r.stdout)["message"]


def hostile_vaultd(method, params):
    """Every answer carries HOSTILE where vaultctl shows a string."""
    h = HOSTILE
    answers = {
        "io.vaultd.records.List": {"records": [{"id": h, "version": 1, "updated": h}], "next": h},
        "io.vaultd.records.History": {"versions": [{"version": 1, "time": h, "deleted": False, "size": 1,
                                                    "uid": 0}], "deleted": False},
        "io.vaultd.admin.Status": {"state": h, "vault": h, "version": h, "sandbox": h},
        "io.vaultd.admin.ReloadPolicy": {"rules": 1, "warnings": [h]},
        "io.vaultd.audit.Head": {"lines": 1, "hash": h, "origin": h, "verifier_key": h},
        "io.vaultd.audit.Verify": {"lines": 1, "checkpoints": 1, "hash": h},
    }
    if method in answers:
        return {"parameters": answers[method]}
    return {"error": "io.vaultd.records.%s" % h, "parameters": {"collection": h, h: [h]}}


@pytest.mark.parametrize("args", [
    ["list", "c"], ["history", "c", "X-1"], ["status"], ["policy", "reload"], ["audit", "head"],
    ["audit", "verify"], ["get", "c", "X-1"], ["put", "c", "X-1", "/dev/null"], ["import", "c", "-"],
], ids=lambda a: "-".join(a[:2]))
def test_strings_from_the_server_are_escaped(scripted, args):
    s = scripted(hostile_vaultd)
    r = subprocess.run([VAULTCTL, "--socket", s.path] + args, input=b'{"id": "I-1", "record": {}}\n',
                       capture_output=True, timeout=30)
    assert_no_controls(r.stdout, r.stderr)
    assert SHOWN in (r.stdout + r.stderr).decode(), (r.stdout, r.stderr)


def test_policy_check_escapes_names_from_the_file(vault_dir):
    path = os.path.join(vault_dir, "hostile.policy")
    open(path, "wb").write(b"allow user \x1b[2J\xff\xc3 role admin\n")
    r = subprocess.run([VAULTCTL, "policy", "check", path], capture_output=True)
    assert r.returncode == 0 and r.stderr.decode() == (
        "vaultctl: %s: warning: line 1: no user named '\\x1b[2J\\xff\\xc3' on this system; the rule grants "
        "nothing\n" % path)
    open(path, "wb").write(b"\x1b]0;owned\x07 user x role admin\n")
    r = subprocess.run([VAULTCTL, "policy", "check", path], capture_output=True)
    assert r.returncode == 1 and b"unknown keyword '\\x1b]0;owned\\x07'" in r.stderr
    assert_no_controls(r.stdout, r.stderr)


# 4. A server whose pages repeat or never end.

def record(i):
    return {"id": "NCC-2024-%09d" % i, "version": 1, "updated": "2026-11-29T14:03:07.123456Z"}


def version(i):
    return {"version": i, "time": "2026-11-29T14:03:07.123456Z", "deleted": False, "size": 10, "uid": 0}


def stuck_list(method, params):
    """Every page after the first says the next starts after "NCC-...-5":
    where the previous one did, or before it."""
    return {"parameters": {"records": [record(1)], "next": record(5)["id"]}}


def stuck_history(method, params):
    return {"parameters": {"versions": [version(7)], "deleted": False, "next": 7}}


@pytest.mark.parametrize("args,answer", [
    (["list", "c", "--all"], stuck_list),
    (["list", "c", "--all", "--after", "NCC-2024-000000009"], stuck_list),
    (["history", "c", "X-1"], stuck_history),
], ids=["list", "list-backwards", "history"])
def test_next_that_does_not_advance_is_refused(scripted, args, answer):
    s = scripted(answer)
    r = ctl(s.path, *args, timeout=10)
    assert r.returncode == 1
    assert re.fullmatch(r"vaultctl: io\.vaultd\.records\.\w+ page \d says the next page starts after "
                        r"\S+, which does not come after \S+: the listing would never end, so vaultctl "
                        r"stopped \(is this vaultd's socket\? vaultd never does this\)\n",
                        r.stderr.decode()), r.stderr
    assert s.calls <= 2
    # --json: still one object, the pages shown so far and the error.
    r = ctl(s.path, "--json", *args, timeout=10)
    obj = json.loads(r.stdout)
    assert r.returncode == 1 and r.stderr == b"" and obj["error"] == "vaultctl.Failed"
    assert obj["parameters"]["reason"] == "next does not advance"


class EndlessPages:
    """A server whose listing never ends: it answers the first call with
    page(0), page(1), ... each next after the last, as fast as vaultctl
    reads them (not waiting for the calls that ask for them, so that the
    test takes seconds), and counts the calls it gets."""

    def __init__(self, path, page):
        self.path, self.page, self.calls = path, page, 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        threading.Thread(target=self.serve, daemon=True).start()

    def count_calls(self, conn):
        try:
            while chunk := conn.recv(1 << 16):
                self.calls += chunk.count(b"\0")
        except OSError:
            pass

    def serve(self):
        conn, _ = self.sock.accept()
        threading.Thread(target=self.count_calls, args=(conn,), daemon=True).start()
        n = 0
        try:
            while True:
                conn.sendall(b"".join(json.dumps(self.page(i)).encode() + b"\0" for i in range(n, n + 100)))
                n += 100
        except OSError:
            pass  # vaultctl stopped reading

    def close(self):
        self.sock.close()
        os.unlink(self.path)


@pytest.fixture
def endless(vault_dir):
    servers = []

    def make(page):
        s = EndlessPages(os.path.join(vault_dir, "endless-%d.sock" % len(servers)), page)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()


def list_page(n, size=5):
    first = size * n + 1
    return {"parameters": {"records": [record(i) for i in range(first, first + size)],
                           "next": record(first + size - 1)["id"]}}


def history_page(n, size=4):
    first = size * n + 1
    return {"parameters": {"versions": [version(i) for i in range(first, first + size)], "deleted": False,
                           "next": first + size - 1}}


PAGES_MAX = 100000
# Far below what holding 100,000 pages of 4 or 5 items takes (some 250 MiB),
# far above what one page takes (some 6 MiB; 75 under ASan).
RSS_LIMIT_KB = 128 * 1024

# Runs a command as a child of a small process that reports the child's
# peak RSS (a child of pytest would carry pytest's own peak across exec)
# and kills it if it outgrows the limit or the time.
_MEASURE = r"""
import os, sys, time
limit_kb, seconds, report = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[4], sys.argv[4:])
deadline = time.monotonic() + seconds
while True:
    done, status, usage = os.wait4(pid, os.WNOHANG)
    if done:
        break
    try:
        with open("/proc/%d/status" % pid) as f:
            rss = int([l for l in f if l.startswith("VmRSS:")][0].split()[1])
    except (OSError, IndexError):
        rss = 0
    if rss > limit_kb or time.monotonic() > deadline:
        os.kill(pid, 9)
    time.sleep(0.02)
with open(report, "w") as f:
    f.write("%d %d" % (os.waitstatus_to_exitcode(status), usage.ru_maxrss))
"""


def run_measured(cmd, seconds=60):
    """(exit code, stdout, stderr, peak RSS in KiB) of cmd."""
    with tempfile.TemporaryDirectory() as d:
        paths = [os.path.join(d, n) for n in ("out", "err", "report")]
        with open(paths[0], "wb") as out, open(paths[1], "wb") as err:
            subprocess.run(["/usr/bin/python3", "-I", "-S", "-c", _MEASURE, str(RSS_LIMIT_KB), str(seconds),
                            paths[2]] + cmd, stdout=out, stderr=err, check=True, timeout=seconds + 10)
        rc, rss = map(int, open(paths[2]).read().split())
        return rc, open(paths[0], "rb").read(), open(paths[1], "rb").read(), rss


def test_endless_list_stops_at_the_cap_in_bounded_memory(endless):
    s = endless(list_page)
    rc, out, err, rss = run_measured([VAULTCTL, "--socket", s.path, "list", "c", "--all"])
    assert rc == 1 and rss < RSS_LIMIT_KB, (rc, rss, err[-500:])
    last = record(5 * PAGES_MAX)["id"]
    assert err.decode() == (
        "vaultctl: io.vaultd.records.List sent 100000 pages and says more follow; vaultctl stopped there, "
        "as no listing of a vault should be that long (is this vaultd's socket? to go on from here: "
        "--after %s)\n" % last)
    assert s.calls == PAGES_MAX
    # Streamed: every page shown as it came, each row once, under one heading.
    lines = out.decode().splitlines()
    assert lines[0].split() == ["ID", "VERSION", "UPDATED"] and len(lines) == 1 + 5 * PAGES_MAX
    assert lines[1].split()[0] == record(1)["id"] and lines[-1].split()[0] == last


def test_endless_history_under_json_is_one_object_in_bounded_memory(endless):
    s = endless(history_page)
    rc, out, err, rss = run_measured([VAULTCTL, "--socket", s.path, "--json", "history", "c", "X-1"])
    assert rc == 1 and err == b"" and rss < RSS_LIMIT_KB, (rc, rss, err[-500:])
    obj = json.loads(out)
    assert obj["error"] == "vaultctl.Failed" and obj["parameters"]["reason"] == "too many pages"
    assert "sent 100000 pages and says more follow" in obj["message"]
    assert [v["version"] for v in obj["versions"]] == list(range(1, 4 * PAGES_MAX + 1))
