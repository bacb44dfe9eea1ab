"""Backups that restore (issue #10): `vaultctl backup FILE` passes a new file
to vaultd, which writes a compacted copy into it while it serves; `vaultctl
backup verify` checks a copy offline; `vaultd --restore` installs one. The
rule for descriptors passed with calls (docs/protocol.md); the daily timer's
script and units. Real daemon, real files, LMDB edited with mdb_dump and
mdb_load."""
import array
import base64
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import threading
import time

import pytest

from conftest import BUILD, NOBODY, REPO, VAULTD, Client, Vault, audit_lines
from test_integrity import data_pairs

BACKUP = "io.vaultd.admin.Backup"
SCRIPT = os.path.join(REPO, "packaging", "vaultd-backup")
UNITS = os.path.join(REPO, "packaging", "systemd")
STRANGER = 4343


def call_with_fds(client, method, fds, params=None):
    """One call whose first byte carries fds (SCM_RIGHTS); its reply."""
    msg = json.dumps({"method": method, "parameters": params or {}}).encode() + b"\0"
    send_with_fds(client.sock, msg, fds)
    return client.recv()


def send_with_fds(sock, data, fds):
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    assert sock.sendmsg([data], anc) == len(data)


def new_file(path, flags=os.O_RDWR):
    return os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)


def daemon_fds(vault):
    return len(os.listdir("/proc/%d/fd" % vault.proc.pid))


def wait_for(what, cond, timeout=10):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.02)


def fd_error(reply):
    """The reason of an admin.InvalidParameter naming "fd"."""
    assert reply.get("error") == "io.vaultd.admin.InvalidParameter", reply
    assert reply["parameters"]["parameter"] == "fd", reply
    return reply["parameters"]["reason"]


def backup_ops(vault):
    return [l for l in audit_lines(vault.export()) if l["op"].startswith("admin.backup")]


def verifier_key(vault):
    return vault.ctl("audit", "head", json_out=True, check=True).json["verifier_key"]


def restore(backup, state, *extra):
    return subprocess.run([VAULTD, "--restore", backup, "--state-dir", state] + list(extra),
                          capture_output=True, text=True, timeout=60)


def b64(data):
    return base64.b64encode(data).decode()


# --- Backup under load, restore, every acknowledged record ---

class Writer(threading.Thread):
    """Puts new versions of its own records as fast as vaultd answers,
    remembering each acknowledged (id, version) -> body and latency."""

    def __init__(self, sock, n):
        super().__init__(daemon=True)
        self.client = Client(sock)
        self.n = n
        self.stop = threading.Event()
        self.acked = {}
        self.latencies = []  # (acknowledged at, seconds)
        self.error = None

    def run(self):
        i = 0
        try:
            while not self.stop.is_set():
                rid = "W%d-%d" % (self.n, i % 50)
                body = ("writer %d put %d " % (self.n, i)).encode() * 8
                t = time.monotonic()
                r = self.client.call("io.vaultd.records.Put", {"collection": "load", "id": rid,
                                                               "data": b64(body)})
                now = time.monotonic()
                assert "error" not in r, r
                self.acked[(rid, r["parameters"]["version"])] = (body, now)
                self.latencies.append((now, now - t))
                i += 1
        except Exception as e:  # reported by the test
            self.error = e


def test_backup_under_write_load_restores_every_acknowledged_record(vault):
    c = Client(vault.sock)
    bulk = os.urandom(256 << 10)
    for i in range(40):  # 10 MiB, so that the copy takes a while
        assert "error" not in c.call("io.vaultd.records.Put", {"collection": "bulk", "id": "B-%d" % i,
                                                               "data": b64(bulk)})
    writers = [Writer(vault.sock, n) for n in range(4)]
    for w in writers:
        w.start()
    wait_for("writes", lambda: all(len(w.acked) > 20 for w in writers))
    path = os.path.join(vault.root, "backup.mdb")
    started = time.monotonic()
    r = vault.ctl("backup", path, json_out=True)
    ended = time.monotonic()
    time.sleep(0.3)
    for w in writers:
        w.stop.set()
    for w in writers:
        w.join(timeout=30)
        assert w.error is None, w.error
    assert r.returncode == 0, r.stderr
    reply = r.json
    assert reply["file"] == path and reply["size"] == os.path.getsize(path) > 10 << 20
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # Writers were served while the copy ran, none held for long.
    during = [lat for w in writers for at, lat in w.latencies if started <= at <= ended]
    assert during and max(during) < 5, (len(during), max(during or [0]))

    # The trail: the call before the copy, its completion after, naming the
    # head the copy holds.
    trail = audit_lines(vault.export())
    start = next(l for l in trail if l["op"] == "admin.backup")
    done = next(l for l in trail if l["op"] == "admin.backup-done")
    head = reply["head_seq"]
    assert start["result"] == "ok" and start["actor"]["uid"] == 0 and start["actor"]["role"] == "admin"
    assert start["seq"] <= head < done["seq"]
    assert done["request_seq"] == start["seq"] and done["head_seq"] == head and done["size"] == reply["size"]
    assert done["head_hash"] == reply["head_hash"] and done["actor"]["uid"] == 0

    v = vault.ctl("backup", "verify", path, "--key", verifier_key(vault), json_out=True)
    assert v.returncode == 0, v.stderr
    assert v.json["head_seq"] == head and v.json["head_hash"] == reply["head_hash"]
    assert v.json["unsigned_lines"] == 0  # the copy's own checkpoint signs its head

    # Restored elsewhere, it starts, verifies, and holds exactly the writes
    # the trail puts at or before its head.
    os.mkdir(os.path.join(vault.root, "elsewhere"), 0o755)
    other = Vault(os.path.join(vault.root, "elsewhere"))
    shutil.rmtree(other.state)
    shutil.copy(vault.key, other.key)  # the same root key: it travels apart from backups
    res = restore(path, other.state)
    assert res.returncode == 0, res.stderr
    other.start()
    try:
        assert other.ctl("audit", "verify").returncode == 0
        acked = {k: v for w in writers for k, v in w.acked.items()}
        oc = Client(other.sock)
        puts = [l for l in trail if l["op"] == "records.put" and l["collection"] == "load"]
        assert len(puts) > 100 and any(l["seq"] > head for l in puts)
        for line in puts:
            got = oc.call("io.vaultd.records.Get", {"collection": "load", "id": line["id"],
                                                    "version": line["version"]})
            if line["seq"] <= head:
                assert "error" not in got, (line, got)
                assert base64.b64decode(got["parameters"]["data"]) == acked[(line["id"], line["version"])][0]
            else:
                assert got.get("error") == "io.vaultd.records.NotFound", (line, got)
        assert all(k in acked for k in ((l["id"], l["version"]) for l in puts))
        restored = audit_lines(other.export())
        assert [l["seq"] for l in restored[:head + 1]] == list(range(head + 1))
        line = restored[head + 1]
        assert line["op"] == "admin.restore" and line["actor"] == {
            "uid": 0, "gid": 0, "pid": line["actor"]["pid"], "user": "root", "role": "system"}
        assert line["backup_seq"] == head and line["backup_hash"] == reply["head_hash"]
        assert line["backup_time"] == v.json["head_time"] and "replaced" not in line
    finally:
        assert other.stop() == 0


# --- backup verify ---

def mdb(tool, *args, **kw):
    return subprocess.run([tool] + list(args), capture_output=True, check=True, **kw).stdout


def test_verify_names_a_tampered_cut_or_foreign_copy(vault):
    vault.ctl("put", "c", "V-1", "-", input=b"x" * 5000, check=True)
    good = os.path.join(vault.root, "good.mdb")
    vault.ctl("backup", good, check=True)
    key = verifier_key(vault)
    r = vault.ctl("backup", "verify", good, "--key", key)
    assert r.returncode == 0 and r.stdout_text.startswith("OK: %s verifies\n" % good), r.stderr
    assert "records:      1\n" in r.stdout_text

    # One byte of audit line 1 changed (mdb_dump / mdb_load on a copy).
    edited = os.path.join(vault.root, "edited.mdb")
    shutil.copy(good, edited)
    lines = mdb("mdb_dump", "-n", "-s", "audit", edited).decode().split("\n")
    _, val = data_pairs(lines)[1]
    lines[val] = " " + bytes.fromhex(lines[val].strip()).replace(b'"V-1"', b'"V-2"').hex()
    subprocess.run(["mdb_load", "-n", "-s", "audit", edited], input="\n".join(lines).encode(), check=True)
    r = vault.ctl("backup", "verify", edited, "--key", key, json_out=True)
    assert r.returncode == 3 and r.stderr == "", r.stdout_text
    err = json.loads(r.stdout_text)
    assert err["error"] == "vaultctl.NotVerified" and err["parameters"]["seq"] in (1, 2), err
    r = vault.ctl("backup", "verify", edited)
    assert r.returncode == 3 and "does NOT verify at audit line" in r.stderr and r.stdout == b""

    # Cut short, as an interrupted copy would be.
    cut = os.path.join(vault.root, "cut.mdb")
    with open(good, "rb") as f, open(cut, "wb") as g:
        g.write(f.read()[:os.path.getsize(good) // 2])
    r = vault.ctl("backup", "verify", cut)
    assert r.returncode == 3 and "cut short" in r.stderr, r.stderr

    # Another vault's key.
    os.mkdir(os.path.join(vault.root, "other"), 0o755)
    other = Vault(os.path.join(vault.root, "other"))
    other.start()
    try:
        other_key = verifier_key(other)
    finally:
        other.stop()
    r = vault.ctl("backup", "verify", good, "--key", other_key)
    assert r.returncode == 3 and "not the one given" in r.stderr, r.stderr

    # Not a store at all; no such file.
    junk = os.path.join(vault.root, "junk.mdb")
    open(junk, "wb").write(b"not a vault\n" * 1000)
    r = vault.ctl("backup", "verify", junk)
    assert r.returncode == 3 and "not an LMDB file" in r.stderr, r.stderr
    r = vault.ctl("backup", "verify", os.path.join(vault.root, "missing.mdb"))
    assert r.returncode == 1 and "No such file" in r.stderr


def test_a_sealed_vault_backs_up_and_its_unsigned_lines_chain(vault_dir):
    pf = os.path.join(vault_dir, "pass")
    open(pf, "w").write("backup passphrase\n")
    v = Vault(vault_dir, key_args=["--passphrase-file", pf])
    v.start()
    try:
        path = os.path.join(vault_dir, "sealed.mdb")
        r = v.ctl("backup", path, json_out=True)
        assert r.returncode == 0, r.stderr
        r = v.ctl("backup", "verify", path, json_out=True)
        # Sealed, the keeper signs nothing: the lines since the last
        # checkpoint are checked as a chain, and said to be unsigned.
        assert r.returncode == 0 and r.json["unsigned_lines"] >= 1, r.stdout_text
        assert "chained, not signed" in v.ctl("backup", "verify", path).stdout_text
    finally:
        assert v.stop() == 0


# --- Who may, and what a descriptor must be ---

ROLES_POLICY = """\
allow user root role admin,auditor
allow user root role service collections *
allow user %d role service collections c
""" % NOBODY


def test_only_admins_back_up_and_refusals_are_audited(vault_dir):
    v = Vault(vault_dir, policy=ROLES_POLICY)
    v.start()
    try:
        mine = os.path.join(vault_dir, "nobody")
        os.mkdir(mine)
        shutil.chown(mine, NOBODY, NOBODY)
        path = os.path.join(mine, "b.mdb")
        r = v.ctl("backup", path, uid=NOBODY)
        assert r.returncode == 5 and "AccessDenied" in r.stderr, r.stderr
        assert os.listdir(mine) == []  # the unfinished file went with vaultctl
        base = daemon_fds(v)
        # A caller without any role gets the same, and its file goes back.
        script = ("import array, json, os, socket, sys\n"
                  "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
                  "fd = os.open('/dev/shm/vaultd-stranger-%d', os.O_RDWR | os.O_CREAT, 0o600)\n"
                  "msg = json.dumps({'method': '%s', 'parameters': {}}).encode() + b'\\0'\n"
                  "s.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [fd]))])\n"
                  "print(s.recv(65536)[:-1].decode())\n") % (os.getpid(), BACKUP)
        out = subprocess.run(["setpriv", "--reuid", str(STRANGER), "--regid", str(STRANGER), "--clear-groups",
                              "/usr/bin/python3", "-c", script, v.sock], capture_output=True, text=True,
                             timeout=30)
        os.unlink("/dev/shm/vaultd-stranger-%d" % os.getpid())
        assert json.loads(out.stdout)["error"] == "io.vaultd.admin.AccessDenied", out
        wait_for("the stranger's descriptor to close", lambda: daemon_fds(v) <= base)
        denied = [l for l in backup_ops(v) if l["result"] == "denied"]
        assert [l["actor"]["uid"] for l in denied] == [NOBODY, STRANGER]
        assert denied[0]["actor"]["role"] == "service" and denied[1]["actor"]["role"] is None
    finally:
        assert v.stop() == 0


def test_a_descriptor_that_cannot_hold_a_copy_is_refused(vault):
    c = Client(vault.sock)
    c.call("org.varlink.service.GetInfo")  # accepted: its socket is in the base count
    base = daemon_fds(vault)
    d = vault.root
    assert "no file descriptor came with the call" in fd_error(c.call(BACKUP))
    os.mkfifo(os.path.join(d, "fifo"))
    fifo = os.open(os.path.join(d, "fifo"), os.O_RDWR | os.O_NONBLOCK)
    a, b = socket.socketpair()
    ro = new_file(os.path.join(d, "ro.mdb"), os.O_RDONLY)
    full = new_file(os.path.join(d, "full.mdb"))
    os.write(full, b"someone's data")
    opath = new_file(os.path.join(d, "opath.mdb"))
    opath_fd = os.open(os.path.join(d, "opath.mdb"), os.O_PATH)
    devnull = os.open("/dev/null", os.O_WRONLY)
    cases = [(fifo, "not a regular file"), (a.fileno(), "not a regular file"),
             (devnull, "not a regular file"), (ro, "open read-only"), (opath_fd, "open read-only"),
             (full, "not empty")]
    for fd, why in cases:
        assert why in fd_error(call_with_fds(c, BACKUP, [fd])), why
    assert os.read(os.open(os.path.join(d, "full.mdb"), os.O_RDONLY), 100) == b"someone's data"
    for fd in (fifo, ro, full, opath, opath_fd, devnull):
        os.close(fd)
    a.close()
    b.close()
    wait_for("every refused descriptor to close", lambda: daemon_fds(vault) <= base)
    ops = backup_ops(vault)
    assert len(ops) == 7 and all(l["op"] == "admin.backup" and l["error"] == "InvalidParameter" for l in ops)


def test_descriptors_no_call_takes_are_closed(vault):
    c = Client(vault.sock)
    c.call("org.varlink.service.GetInfo")  # accepted: its socket is in the base count
    base = daemon_fds(vault)
    mk = lambda n: new_file(os.path.join(vault.root, "f%d.mdb" % n))
    files = [mk(n) for n in range(3)]
    # With a call that takes none.
    assert "error" not in call_with_fds(c, "io.vaultd.admin.Status", [files[0]])
    # Two with one call: neither is taken.
    assert "no file descriptor" in fd_error(call_with_fds(c, BACKUP, [files[0], files[1]]))
    # Hundreds, with the first byte and with later ones, in one message.
    msg = json.dumps({"method": BACKUP, "parameters": {}}).encode() + b"\0"
    for i in range(8):
        send_with_fds(c.sock, msg[i:i + 1], [files[i % 3]] * 200)
    send_with_fds(c.sock, msg[8:], [])
    assert "no file descriptor" in fd_error(c.recv())
    # With the first byte of two calls sent at once: the first call gets it.
    two = json.dumps({"method": "io.vaultd.admin.Status", "parameters": {}}).encode() + b"\0" + msg
    send_with_fds(c.sock, two, [files[2]])
    assert "error" not in c.recv()
    assert "no file descriptor" in fd_error(c.recv())
    # Sent with half a message, then the connection goes.
    for n in range(20):
        s = socket.socket(socket.AF_UNIX)
        s.connect(vault.sock)
        send_with_fds(s, msg[:5], [files[0]])
        s.close()
    wait_for("the closed connections' descriptors to go", lambda: daemon_fds(vault) <= base)
    # Many connections each holding one descriptor for an unfinished call:
    # one each, never more, and gone with them.
    held = []
    for n in range(20):
        s = socket.socket(socket.AF_UNIX)
        s.connect(vault.sock)
        send_with_fds(s, msg[:5], [files[0]])
        send_with_fds(s, msg[5:10], [files[1]] * 10)
        held.append(s)
    # Once vaultd has read them all: a socket and one descriptor each.
    wait_for("the held descriptors", lambda: daemon_fds(vault) >= base + 2 * len(held))
    time.sleep(0.2)
    assert daemon_fds(vault) == base + 2 * len(held)
    for s in held:
        s.close()
    for fd in files:
        os.close(fd)
    wait_for("the daemon's descriptors to return to %d" % base, lambda: daemon_fds(vault) <= base)
    assert "error" not in c.call("io.vaultd.admin.Status")


def test_a_second_backup_while_one_runs_is_try_later(vault):
    c = Client(vault.sock)
    body = b64(os.urandom(4 << 20))
    for i in range(8):
        c.send("io.vaultd.records.Put", {"collection": "big", "id": "B-%d" % i, "data": body})
    for i in range(8):
        assert "error" not in c.recv()
    seen = None
    for attempt in range(10):  # a fast disk may finish a copy before the second call lands
        first = new_file(os.path.join(vault.root, "first-%d.mdb" % attempt))
        send_with_fds(c.sock, json.dumps({"method": BACKUP, "parameters": {}}).encode() + b"\0", [first])
        deadline = time.monotonic() + 10
        while os.fstat(first).st_size == 0:  # the copy has started once the file grows
            assert time.monotonic() < deadline, "the copy did not start"
            time.sleep(0.001)
        second = new_file(os.path.join(vault.root, "second-%d.mdb" % attempt))
        r2 = call_with_fds(Client(vault.sock), BACKUP, [second])
        assert "error" not in c.recv()
        os.close(first)
        os.close(second)
        if r2.get("error"):
            seen = r2
            break
    assert seen == {"error": "io.vaultd.admin.TryLater", "parameters": {"retry_after": 10}}, seen


# --- Restore ---

def fake_checkpoint_file(state):
    note = "vaultd/0123\n99999\nAAAA\n\n\u2014 vaultd/0123 BBBB\n"
    with open(os.path.join(state, "checkpoint.last"), "w") as f:
        f.write(note)
    return note


def test_restore_refuses_a_live_or_existing_store_and_records_what_it_replaces(vault):
    vault.ctl("put", "c", "R-1", "-", input=b"before the backup", check=True)
    path = os.path.join(vault.root, "b.mdb")
    head = vault.ctl("backup", path, json_out=True, check=True).json
    vault.ctl("put", "c", "R-2", "-", input=b"after the backup", check=True)
    data = os.path.join(vault.state, "data.mdb")
    # Live: refused, --force or not.
    for extra in ([], ["--force"]):
        r = restore(path, vault.state, *extra)
        assert r.returncode == 1 and "in use" in r.stderr and "Stop that one first" in r.stderr, r.stderr
    old_lines = vault.ctl("status", json_out=True).json["audit_lines"]
    vault.stop()
    before = open(data, "rb").read()
    r = restore(path, vault.state)
    assert r.returncode == 1 and "already holds a vault" in r.stderr and "--force" in r.stderr
    # A copy that does not verify is refused first.
    cut = os.path.join(vault.root, "cut.mdb")
    open(cut, "wb").write(open(path, "rb").read()[:8192 * 3])
    r = restore(cut, vault.state, "--force")
    assert r.returncode == 1 and "not a usable backup" in r.stderr, r.stderr
    assert open(data, "rb").read() == before
    assert sorted(os.listdir(vault.state)) == ["checkpoint.last", "data.mdb", "lock.mdb"]

    note = fake_checkpoint_file(vault.state)
    r = restore(path, vault.state, "--force")
    assert r.returncode == 0, r.stderr
    kept = [n for n in os.listdir(vault.state) if n.startswith("data.mdb.replaced-")]
    assert len(kept) == 1 and open(os.path.join(vault.state, kept[0]), "rb").read() == before
    assert sorted(os.listdir(vault.state)) == sorted(["data.mdb", "lock.mdb", kept[0]])  # checkpoint.last gone
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o600
    assert "kept as %s/%s" % (vault.state, kept[0]) in r.stdout
    vault.start()
    assert vault.ctl("audit", "verify").returncode == 0
    assert vault.ctl("get", "c", "R-1").stdout == b"before the backup"
    assert vault.ctl("get", "c", "R-2").returncode == 6  # rolled back, as restoring means
    line = audit_lines(vault.export())[head["head_seq"] + 1]
    assert line["op"] == "admin.restore" and line["backup_seq"] == head["head_seq"]
    assert line["superseded_checkpoint"] == note
    assert line["replaced"]["lines"] == old_lines and len(line["replaced"]["head_hash"]) == 64


def test_restore_makes_the_store_the_state_directorys_owners(vault):
    path = os.path.join(vault.root, "b.mdb")
    vault.ctl("backup", path, check=True)
    new = os.path.join(vault.root, "new-state")
    os.mkdir(new, 0o700)
    shutil.chown(new, NOBODY, NOBODY)
    r = restore(path, new, "--user", "nobody")  # the user vaultd serves as owns the directory
    assert r.returncode == 0, r.stderr
    st = os.stat(os.path.join(new, "data.mdb"))
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (NOBODY, NOBODY, 0o600)
    assert sorted(os.listdir(new)) == ["data.mdb"]  # no work directory left behind
    r = restore(path, os.path.join(vault.root, "missing", "deeper"))
    assert r.returncode == 1 and "cannot create the state directory" in r.stderr


# --- status ---

def set_meta_u64(state, name, value):
    lines = subprocess.run(["mdb_dump", "-s", "meta", state], capture_output=True,
                           check=True).stdout.decode().split("\n")
    key = " " + name.encode().hex()
    for k, v in data_pairs(lines):
        if lines[k] == key:
            lines[v] = " " + value.to_bytes(8, "big").hex()
    subprocess.run(["mdb_load", "-s", "meta", state], input="\n".join(lines).encode(), check=True)


def test_status_shows_the_last_backups_age_and_warns_after_two_days(vault):
    text = vault.ctl("status").stdout_text
    assert "last backup:  never\n" in text and "WARNING: this vault has no backup" in text
    assert "backup_time" not in vault.ctl("status", json_out=True).json
    vault.ctl("backup", os.path.join(vault.root, "b.mdb"), check=True)
    st = vault.ctl("status", json_out=True).json
    assert st["backup_age_seconds"] < 60 and re.match(r"\d{4}-\d\d-\d\dT", st["backup_time"])
    text = vault.ctl("status").stdout_text
    assert "(less than an hour ago)" in text and "WARNING" not in text
    vault.stop()
    set_meta_u64(vault.state, "backup.last.time", int((time.time() - 3 * 86400) * 1e6))
    vault.start()
    st = vault.ctl("status", json_out=True).json
    assert 3 * 86400 - 60 < st["backup_age_seconds"] < 3 * 86400 + 60
    text = vault.ctl("status").stdout_text
    assert "(3 days ago)" in text and "WARNING: older than 2 days" in text


# --- The daily timer: its script and units ---

def run_script(vault, outdir, **env):
    e = dict(os.environ, PATH=BUILD + ":" + os.environ["PATH"], VAULTD_SOCKET=vault.sock,
             VAULTD_BACKUP_DIR=outdir)
    e.update(env)
    return subprocess.run(["sh", SCRIPT], capture_output=True, text=True, env=e, timeout=60)


def test_daily_script_keeps_the_newest_good_copies(vault):
    out = os.path.join(vault.root, "backups")
    os.mkdir(out, 0o700)
    names = []
    for i in range(3):
        vault.ctl("put", "c", "D-%d" % i, "-", input=b"x", check=True)
        r = run_script(vault, out, VAULTD_BACKUP_KEEP="2")
        assert r.returncode == 0, r.stderr
        names.append(re.search(r"backup written to \S+/(vaultd-\S+\.mdb)", r.stdout).group(1))
        time.sleep(1.1)  # names are by the second
    assert "removed the older copy %s (keeping 2)" % names[0] in r.stdout
    assert sorted(os.listdir(out)) == names[1:]
    # A copy that does not verify against the key given stays as .failed,
    # and nothing older goes.
    r = run_script(vault, out, VAULTD_BACKUP_KEEP="1", VAULTD_BACKUP_KEY="vaultd/x+00000000+AQ==")
    assert r.returncode == 1 and "does NOT verify" in r.stderr, r.stderr
    listed = sorted(os.listdir(out))
    assert listed[:2] == names[1:] and len(listed) == 3 and listed[2].endswith(".mdb.failed")
    r = run_script(vault, out, VAULTD_BACKUP_KEEP="none")
    assert r.returncode == 2 and "VAULTD_BACKUP_KEEP" in r.stderr


def test_backup_units_verify_and_are_confined(tmp_path):
    for name in ("vaultd.service", "vaultd.socket", "vaultd-backup.service", "vaultd-backup.timer"):
        text = open(os.path.join(UNITS, name)).read()
        text = text.replace("/usr/sbin/vaultd", os.path.join(BUILD, "vaultd"))
        text = text.replace("/usr/libexec/vaultd/vaultd-backup", SCRIPT)
        (tmp_path / name).write_text(text)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "vaultd-backup.service"),
                        str(tmp_path / "vaultd-backup.timer")], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(tmp_path / "vaultd-backup.service")],
                       capture_output=True, text=True)
    score = re.search(r"Overall exposure level for vaultd-backup.service: ([0-9.]+)", r.stdout)
    assert score and float(score.group(1)) <= 1.0, r.stdout
    service = open(os.path.join(UNITS, "vaultd-backup.service")).read()
    timer = open(os.path.join(UNITS, "vaultd-backup.timer")).read()
    assert "OnCalendar=" in timer and "Persistent=true" in timer and "WantedBy=timers.target" in timer
    assert "ReadWritePaths=/var/backups/vaultd" in service and "VAULTD_BACKUP_KEEP=14" in service
    assert not re.search(r"^PrivateUsers=(yes|true|1|on)", service, re.M)  # vaultd must see real ids
    # The account it runs as holds the admin role through its group.
    assert re.search(r"^User=vaultd-backup$", service, re.M)
    assert re.search(r"^SupplementaryGroups=vaultd-admin$", service, re.M)
    policy = open(os.path.join(REPO, "policy", "vaultd.policy")).read()
    assert re.search(r"^allow group vaultd-admin\s+role admin", policy, re.M)
    sysusers = open(os.path.join(REPO, "packaging", "sysusers.d", "vaultd.conf")).read()
    tmpfiles = open(os.path.join(REPO, "packaging", "tmpfiles.d", "vaultd.conf")).read()
    assert re.search(r"^u vaultd-backup ", sysusers, re.M)
    assert re.search(r"^d /var/backups/vaultd 0700 vaultd-backup vaultd-backup", tmpfiles, re.M)


def test_make_install_installs_the_daily_backup(tmp_path):
    r = subprocess.run(["make", "-s", "-C", REPO, "install", "BUILD=" + BUILD, "DESTDIR=" + str(tmp_path),
                        "PREFIX=/usr/local"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    unit = (tmp_path / "usr/local/lib/systemd/system/vaultd-backup.service").read_text()
    assert "ExecStart=/usr/local/libexec/vaultd/vaultd-backup\n" in unit
    assert (tmp_path / "usr/local/lib/systemd/system/vaultd-backup.timer").exists()
    assert os.access(tmp_path / "usr/local/libexec/vaultd/vaultd-backup", os.X_OK)
    settings = tmp_path / "etc/default/vaultd-backup"
    assert "VAULTD_BACKUP_KEEP" in settings.read_text()
    settings.write_text("VAULTD_BACKUP_KEEP=30\n")  # an admin's settings stay
    r = subprocess.run(["make", "-s", "-C", REPO, "install", "BUILD=" + BUILD, "DESTDIR=" + str(tmp_path),
                        "PREFIX=/usr/local"], capture_output=True, text=True)
    assert r.returncode == 0 and settings.read_text() == "VAULTD_BACKUP_KEEP=30\n"
