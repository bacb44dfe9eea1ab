"""Start-up integrity (issue #10): one daemon per vault, a state directory
that belongs to vaultd, a clear message for every start failure, and no
rollback of the audit trail across restarts without --accept-rollback.
Everything through the real daemon, on real LMDB files."""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import NOBODY, REPO, VAULTCTL, VAULTD, Client, Vault, audit_lines
from docclient import Frontier

# Another user than root and the test daemon's (nobody).
STRANGER = 12345
CHECKPOINT_MESSAGE_ID = "1e944f584f9541b4b880467f3b5a8e3e"


def run_vaultd(v, *args, state=None, timeout=30):
    """Runs vaultd on v's vault as start() would, and waits for it to end
    (every case here is one that must not start)."""
    cmd = [VAULTD, "--state-dir", state or v.state, "--key-file", v.key, "--policy", v.policy,
           "--socket", v.sock] + v.daemon_user() + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def refused(r, *texts):
    assert r.returncode != 0, "vaultd started: " + r.stderr
    for t in texts:
        assert t in r.stderr, "%r not in: %s" % (t, r.stderr)


def checkpoints(export_bytes):
    out = []
    for raw in export_bytes.split(b"\n")[1:]:
        if raw and b'"checkpoint"' in raw:
            out.append(json.loads(raw)["checkpoint"])
    return out


def note_size_hash(note):
    _, size, h = note.split("\n")[:3]
    return int(size), h


def published_note(state):
    """The newest intact slot of checkpoint.last, read as an auditor would."""
    with open(os.path.join(state, "checkpoint.last"), "rb") as f:
        data = f.read()
    best = (0, None)
    for off in (0, 4096):
        slot = data[off:off + 4096].rstrip(b"\n")
        if not slot:
            continue
        body, _, hash_line = slot.rpartition(b"\n")
        body += b"\n"
        if hash_line != b"sha256 " + hashlib.sha256(body).hexdigest().encode():
            continue
        first, _, note = body.partition(b"\n")
        gen = int(first.split()[1])
        if gen > best[0]:
            best = (gen, note.decode())
    return best[1]


def puts(v, n, prefix="R"):
    c = Client(v.sock)
    for i in range(n):
        r = c.call("io.vaultd.records.Put", {"collection": "c", "id": "%s-%d" % (prefix, i), "data": ""})
        assert "error" not in r, r
    c.close()


# One daemon per vault.

def test_second_daemon_refused_first_keeps_serving(vault):
    c = Client(vault.sock)
    assert "error" not in c.call("io.vaultd.records.Put", {"collection": "c", "id": "A-1", "data": ""})
    # Same socket path too: a second daemon that got that far would
    # unlink the first one's socket and take its clients.
    r = run_vaultd(vault)
    refused(r, "in use by another vaultd (pid %d)" % vault.proc.pid, "Stop that one first")
    assert vault.proc.poll() is None
    for i in range(20):
        reply = c.call("io.vaultd.records.Put", {"collection": "c", "id": "A-%d" % i, "data": ""})
        assert "error" not in reply, reply
    c.close()
    c2 = Client(vault.sock)  # the socket on disk is still the first daemon's
    assert c2.call("io.vaultd.records.Get", {"collection": "c", "id": "A-1"})["parameters"]["version"] == 2
    c2.close()
    assert vault.ctl("audit", "verify").returncode == 0
    lines = audit_lines(vault.export())
    assert not [ln for ln in lines if ln.get("error") == "InternalError"]


@pytest.mark.parametrize("args", [
    ["--init-if-empty"],
    ["--init"],
    ["--rekey", "--new-key-file", "NEW"],
])
def test_init_and_rekey_refused_on_a_vault_in_use(vault, args):
    new_key = os.path.join(vault.root, "new.key")
    subprocess.run([VAULTD, "--generate-key", new_key], check=True, capture_output=True)
    args = [new_key if a == "NEW" else a for a in args]
    with open(os.path.join(vault.state, "data.mdb"), "rb") as f:
        before = hashlib.sha256(f.read()).hexdigest()
    r = run_vaultd(vault, *args)
    refused(r, "in use by another vaultd (pid %d)" % vault.proc.pid)
    assert vault.ctl("status").returncode == 0
    vault.stop()
    with open(os.path.join(vault.state, "data.mdb"), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == before  # not rekeyed
    vault.start()


# A state directory that belongs to vaultd.

def test_directory_of_another_user_refused(vault_dir):
    v = Vault(vault_dir)
    os.chown(v.state, STRANGER, 0)
    r = run_vaultd(v)
    refused(r, "belongs to user %d" % STRANGER, "chown ", "chmod 0700 %s" % v.state)


def test_init_refuses_a_directory_another_user_made(vault_dir):
    """The attack of issue #10: another user makes the directory, vaultd
    --init (as root) would create the store in it, and the user then swaps
    lock.mdb for a link to a root-owned file."""
    v = Vault(vault_dir)
    planted = os.path.join(vault_dir, "planted")
    os.mkdir(planted, 0o700)
    os.chown(planted, STRANGER, STRANGER)
    r = subprocess.run([VAULTD, "--init", "--state-dir", planted, "--key-file", v.key] + v.daemon_user(),
                       capture_output=True, text=True, timeout=30)
    refused(r, "belongs to user %d" % STRANGER)
    assert os.listdir(planted) == []


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_directory_writable_by_others_refused(vault_dir, mode):
    v = Vault(vault_dir)
    os.chmod(v.state, mode)
    r = run_vaultd(v)
    refused(r, "(mode %04o)" % mode, "chmod 0700 %s" % v.state)


@pytest.mark.parametrize("name", ["lock.mdb", "data.mdb", "checkpoint.last"])
def test_file_replaced_by_a_link_to_a_root_file_refused(vault_dir, name):
    v = Vault(vault_dir)
    target = os.path.join(vault_dir, "root-owned")
    with open(target, "wb") as f:
        f.write(b"precious\n")
    os.chmod(target, 0o644)
    st = os.stat(target)
    os.unlink(os.path.join(v.state, name))
    os.symlink(target, os.path.join(v.state, name))
    r = run_vaultd(v)
    refused(r, "%s/%s is a symbolic link" % (v.state, name))
    with open(target, "rb") as f:
        assert f.read() == b"precious\n"
    after = os.stat(target)
    assert (after.st_mtime_ns, after.st_size, after.st_mode) == (st.st_mtime_ns, st.st_size, st.st_mode)


def test_hard_linked_store_file_refused(vault_dir):
    v = Vault(vault_dir)
    os.link(os.path.join(v.state, "lock.mdb"), os.path.join(vault_dir, "elsewhere"))
    r = run_vaultd(v)
    refused(r, "lock.mdb has 2 names (hard links)")


def test_store_file_of_another_user_refused(vault_dir):
    v = Vault(vault_dir)
    os.chown(os.path.join(v.state, "data.mdb"), STRANGER, STRANGER)
    r = run_vaultd(v)
    refused(r, "data.mdb belongs to user %d" % STRANGER, "chown ")


def test_fresh_vault_in_a_checked_directory_starts(vault_dir):
    """--init-if-empty makes the missing directory itself (mode 0700), and
    the next start accepts it."""
    v = Vault(vault_dir)
    state = os.path.join(vault_dir, "fresh")
    p = subprocess.Popen([VAULTD, "--state-dir", state, "--key-file", v.key, "--policy", v.policy,
                          "--socket", v.sock, "--init-if-empty"] + v.daemon_user(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(v.sock) and time.monotonic() < deadline:
            assert p.poll() is None, p.stderr.read().decode()
            time.sleep(0.02)
        c = Client(v.sock)
        assert "error" not in c.call("io.vaultd.records.Put", {"collection": "c", "id": "F-1", "data": ""})
        c.close()
    finally:
        p.terminate()
        p.wait(timeout=20)
    assert os.stat(state).st_mode & 0o777 == 0o700
    assert published_note(state) is not None


# Every start failure says what is wrong and what to do.

def replace_store(v, make):
    """Stops nothing (the vault is not running); make(path) writes data.mdb."""
    os.unlink(os.path.join(v.state, "lock.mdb"))
    make(os.path.join(v.state, "data.mdb"))


def test_missing_state_directory(vault_dir):
    v = Vault(vault_dir)
    r = run_vaultd(v, state=os.path.join(vault_dir, "nowhere"))
    refused(r, "nowhere does not exist", "vaultd --init")


def test_empty_state_directory(vault_dir):
    v = Vault(vault_dir)
    empty = os.path.join(vault_dir, "empty")
    os.mkdir(empty, 0o700)
    r = run_vaultd(v, state=empty)
    refused(r, "no vault in %s" % empty, "--init-if-empty")


def test_not_an_lmdb_file(vault_dir):
    v = Vault(vault_dir)

    def garbage(path):
        with open(path, "wb") as f:
            f.write(os.urandom(64 << 10))
    replace_store(v, garbage)
    r = run_vaultd(v)
    refused(r, "data.mdb is not an LMDB store", "restore")


def test_truncated_copy(vault):
    """A copy cut short (tar of a live directory, a full disk): vaultd died of
    SIGBUS here, without a word."""
    puts(vault, 300)
    vault.stop()
    path = os.path.join(vault.state, "data.mdb")
    os.truncate(path, os.path.getsize(path) // 2)
    r = run_vaultd(vault)
    assert r.returncode == 1, r  # an exit with a message, not a signal
    refused(r, "data.mdb is incomplete", "cp or tar while vaultd ran", "restore")


def test_empty_data_file(vault_dir):
    v = Vault(vault_dir)
    replace_store(v, lambda path: open(path, "wb").close())
    r = run_vaultd(v)
    refused(r, "data.mdb is incomplete")


def test_torn_copy_pages_do_not_match_the_header(vault):
    """A copy whose meta pages name pages that hold something else (copied
    at another moment than the header): LMDB finds them inconsistent."""
    puts(vault, 300)
    vault.stop()
    path = os.path.join(vault.state, "data.mdb")
    with open(path, "r+b") as f:
        size = os.path.getsize(path)
        f.seek(2 * 4096)
        f.write(b"\0" * (size - 2 * 4096))
    r = run_vaultd(vault)
    assert r.returncode == 1, r
    refused(r, "is damaged", "cp -a, tar", "restore")


def test_wrong_key(vault_dir):
    v = Vault(vault_dir)
    other = os.path.join(vault_dir, "other.key")
    subprocess.run([VAULTD, "--generate-key", other], check=True, capture_output=True)
    v.key = other
    r = run_vaultd(v)
    refused(r, "does not open this vault", "wrong key file, or a store from another vault")
    assert "audit head" not in r.stderr  # one message, not two


def test_store_of_another_vault_under_the_same_key(vault_dir):
    """Two vaults under one root key: the key opens both, so only what the
    directory published tells the stores apart."""
    a = Vault(os.path.join(vault_dir))
    other_root = os.path.join(vault_dir, "b")
    os.mkdir(other_root)
    b_state = os.path.join(other_root, "state")
    subprocess.run([VAULTD, "--init", "--state-dir", b_state, "--key-file", a.key] + a.daemon_user(),
                   check=True, capture_output=True)
    os.unlink(os.path.join(a.state, "lock.mdb"))
    shutil.copyfile(os.path.join(b_state, "data.mdb"), os.path.join(a.state, "data.mdb"))
    r = run_vaultd(a)
    refused(r, "is another vault than the one that published", "A store was swapped in",
            "--accept-rollback")


def rebuild_without(v, db, key):
    """The store rebuilt by mdb_dump/mdb_load without one record."""
    text = subprocess.run(["mdb_dump", "-a", v.state], capture_output=True, check=True).stdout.decode()
    lines, out, cur, i = text.split("\n"), [], None, 0
    while i < len(lines):
        if lines[i].startswith("database="):
            cur = lines[i].split("=", 1)[1]
        if cur == db and lines[i] == " " + key.hex():
            i += 2
            continue
        out.append(lines[i])
        i += 1
    assert len(out) == len(lines) - 2, "record not found"
    rebuilt = os.path.join(v.root, "rebuilt")
    os.mkdir(rebuilt)
    subprocess.run(["mdb_load", rebuilt], input="\n".join(out).encode(), check=True, capture_output=True)
    os.replace(os.path.join(rebuilt, "data.mdb"), os.path.join(v.state, "data.mdb"))


@pytest.mark.parametrize("db,key", [("meta", b"sign.key"), ("keys", b"\0\0\0\1")])
def test_missing_key_wrap_record(vault_dir, db, key):
    v = Vault(vault_dir)
    rebuild_without(v, db, key)
    r = run_vaultd(v)
    refused(r, "lacks one of its key records", "restore")
    assert "key file does not exist" not in r.stderr


# Rollback detection across restarts.

def test_checkpoints_published_beside_the_store(vault):
    assert published_note(vault.state) is not None
    puts(vault, 5)
    export = vault.export()  # an export signs a checkpoint first
    last = checkpoints(export)[-1]
    assert published_note(vault.state) == last
    size, h = note_size_hash(last)
    assert "audit checkpoint of %s at size %d published: hash %s" % (last.split("\n")[0], size, h) \
        in vault.read_log()


def test_restored_older_store_refused_then_accepted(vault):
    puts(vault, 3)
    vault.stop()
    old = os.path.join(vault.root, "old-state")
    shutil.copytree(vault.state, old)  # a good copy of the stopped vault
    vault.start()
    puts(vault, 10, prefix="LATER")
    published = checkpoints(vault.export())[-1]
    vault.stop()
    pub_size, pub_hash = note_size_hash(published)
    assert note_size_hash(published_note(vault.state)) == (pub_size, pub_hash)
    for name in ("data.mdb", "lock.mdb"):  # the old store put back; checkpoint.last stays
        shutil.copy2(os.path.join(old, name), os.path.join(vault.state, name))

    r = run_vaultd(vault)
    refused(r, "is older than the audit trail this vault already published",
            "checkpoint %d was published" % pub_size, "--accept-rollback")
    r = run_vaultd(vault)  # and again: nothing was changed by refusing
    refused(r, "checkpoint %d was published" % pub_size)

    vault.extra_args = ["--accept-rollback"]
    vault.start()
    assert "--accept-rollback: serving the store as it is" in vault.read_log()
    c = Client(vault.sock)
    assert c.call("io.vaultd.records.Get", {"collection": "c", "id": "LATER-1"})["error"].endswith("NotFound")
    c.close()
    lines = audit_lines(vault.export())
    accepted = [ln for ln in lines if ln["op"] == "admin.accept-rollback"]
    assert len(accepted) == 1
    line = accepted[0]
    # The first line after the old store's last one.
    old_size = line["seq"]
    assert [ln["op"] for ln in lines[old_size:old_size + 1]] == ["admin.accept-rollback"]
    assert lines[old_size - 1]["op"] != "admin.accept-rollback"
    assert line["reason"] == "behind" and line["result"] == "ok"
    assert line["published"]["size"] == pub_size and line["published"]["hash"] == pub_hash
    assert line["store"]["size"] == old_size < pub_size
    assert vault.ctl("audit", "verify").returncode == 0
    vault.stop()
    vault.extra_args = []
    vault.start()  # accepted once: the next start needs no flag
    assert vault.ctl("audit", "verify").returncode == 0


def test_forked_store_refused(vault):
    """A copy that went on on its own (other lines, as many or more) is not
    the published history either."""
    vault.stop()
    fork_root = os.path.join(vault.root, "fork")
    os.mkdir(fork_root)
    fork = Vault.__new__(Vault)
    fork.__dict__.update(vault.__dict__)
    fork.root, fork.state = fork_root, os.path.join(fork_root, "state")
    fork.sock, fork.log = os.path.join(fork_root, "s.sock"), os.path.join(fork_root, "log")
    fork.proc = None
    shutil.copytree(vault.state, fork.state)
    vault.start()
    puts(vault, 4, prefix="MAIN")
    published = checkpoints(vault.export())[-1]
    vault.stop()
    fork.start()
    puts(fork, 8, prefix="FORK")
    fork.export()
    fork.stop()
    pub_size, _ = note_size_hash(published)
    for name in ("data.mdb", "lock.mdb"):
        shutil.copy2(os.path.join(fork.state, name), os.path.join(vault.state, name))
    r = run_vaultd(vault)
    refused(r, "does not continue the audit trail this vault already published",
            "at line %d its history differs" % (pub_size - 1), "--accept-rollback")
    vault.extra_args = ["--accept-rollback"]
    vault.start()
    lines = audit_lines(vault.export())
    line = [ln for ln in lines if ln["op"] == "admin.accept-rollback"][0]
    assert line["reason"] == "forked" and line["published"]["size"] == pub_size
    assert "hash_at_published_size" in line["store"]
    assert vault.ctl("audit", "verify").returncode == 0


def test_missing_published_file_is_made_again(vault):
    """A vault made before checkpoints were published starts, and gets the
    file (with a warning to compare with the journal)."""
    puts(vault, 3)
    vault.export()
    vault.stop()
    os.unlink(os.path.join(vault.state, "checkpoint.last"))
    vault.start()
    assert "checkpoint.last is missing" in vault.read_log()
    assert published_note(vault.state) == checkpoints(vault.export())[-2]


def test_torn_slot_falls_back_to_the_other(vault):
    """A crash in the middle of writing the newest slot leaves the one
    before it: one checkpoint older, which the store continues."""
    puts(vault, 2)
    vault.export()
    puts(vault, 2)
    vault.export()
    vault.stop()
    newest = published_note(vault.state)
    path = os.path.join(vault.state, "checkpoint.last")
    with open(path, "rb") as f:
        data = bytearray(f.read())
    off = 0 if data[:4096].find(newest.encode()) >= 0 else 4096
    data[off + 30:off + 60] = b"\0" * 30  # torn inside the note
    with open(path, "wb") as f:
        f.write(data)
    older = published_note(vault.state)
    assert older and note_size_hash(older)[0] < note_size_hash(newest)[0]
    vault.start()
    assert vault.ctl("audit", "verify").returncode == 0


def test_damaged_published_file_refused_unless_accepted(vault_dir):
    v = Vault(vault_dir)
    with open(os.path.join(v.state, "checkpoint.last"), "wb") as f:
        f.write(b"garbage\n" * 100)
    r = run_vaultd(v)
    refused(r, "checkpoint.last is damaged", "journalctl -o json MESSAGE_ID=" + CHECKPOINT_MESSAGE_ID,
            "--accept-rollback")
    v.extra_args = ["--accept-rollback"]
    v.start()
    lines = audit_lines(v.export())
    assert [ln["reason"] for ln in lines if ln["op"] == "admin.accept-rollback"] == ["damaged"]
    v.stop()


# The journal copy, sent as systemd-journald receives it: in a mount
# namespace of its own, a socket at /run/systemd/journal/socket stands in
# for journald, and JOURNAL_STREAM names vaultd's stderr as systemd does.
JOURNAL_HELPER = r"""
import json, os, signal, socket, struct, subprocess, sys, time
vaultd, vaultctl, state, key, policy, sock, log = sys.argv[1:8]
user = sys.argv[8:]
subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"], check=True)
os.makedirs("/run/systemd/journal", mode=0o755)
j = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
j.bind("/run/systemd/journal/socket")
os.chmod("/run/systemd/journal/socket", 0o666)
logf = open(log, "ab")
st = os.fstat(logf.fileno())
env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
p = subprocess.Popen([vaultd, "--state-dir", state, "--key-file", key, "--policy", policy,
                      "--socket", sock] + user, stdout=logf, stderr=logf, env=env)
deadline = time.monotonic() + 20
while subprocess.run([vaultctl, "--socket", sock, "status"], capture_output=True).returncode:
    assert p.poll() is None and time.monotonic() < deadline, "vaultd did not start"
    time.sleep(0.05)
for i in range(3):
    subprocess.run([vaultctl, "--socket", sock, "put", "c", "J-%d" % i, "-"], input=b"x", check=True,
                   capture_output=True)
subprocess.run([vaultctl, "--socket", sock, "audit", "head"], check=True, capture_output=True)
p.send_signal(signal.SIGTERM)
rc = p.wait(timeout=20)
j.setblocking(False)
entries = []
while True:
    try:
        d = j.recv(1 << 20)
    except BlockingIOError:
        break
    e, i = {}, 0
    while i < len(d):
        nl = d.index(b"\n", i)
        field = d[i:nl]
        if b"=" in field:
            k, v = field.split(b"=", 1)
            i = nl + 1
        else:
            k, n = field, struct.unpack("<Q", d[nl + 1:nl + 9])[0]
            v = d[nl + 9:nl + 9 + n]
            i = nl + 9 + n + 1
        e[k.decode()] = v.decode()
    entries.append(e)
print(json.dumps({"rc": rc, "entries": entries}))
"""


def test_checkpoints_published_to_the_journal(vault_dir):
    v = Vault(vault_dir)
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "/usr/bin/python3", "-c",
                        JOURNAL_HELPER, VAULTD, VAULTCTL, v.state, v.key, v.policy, v.sock, v.log]
                       + v.daemon_user(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["rc"] == 0  # the sandbox let every journal write through
    published = [e for e in out["entries"] if e.get("MESSAGE_ID") == CHECKPOINT_MESSAGE_ID]
    assert published, out["entries"]
    v.start()
    export = v.export()
    v.stop()
    notes = checkpoints(export)
    last = published[-1]
    # The shutdown checkpoint covers the puts; the journal holds the signed
    # note exactly as the store does, and its size and hash as fields.
    assert last["VAULTD_CHECKPOINT_NOTE"] in notes
    size, h = note_size_hash(last["VAULTD_CHECKPOINT_NOTE"])
    assert (int(last["VAULTD_CHECKPOINT_SIZE"]), last["VAULTD_CHECKPOINT_HASH"]) == (size, h)
    assert size >= 5 and last["VAULTD_CHECKPOINT_ORIGIN"] == last["VAULTD_CHECKPOINT_NOTE"].split("\n")[0]
    assert last["PRIORITY"] == "6" and "published" in last["MESSAGE"]
    # A tlog checkpoint: the hash is the root of the tree of the first
    # size lines (docs/audit-format.md), not the hash of the last one.
    lines = [raw for raw in export.split(b"\n")[1:] if raw.startswith(b'{"seq":')][:size]
    tree = Frontier()
    for raw in lines:
        tree.append(hashlib.sha256(b"\0" + raw).digest())
    assert len(lines) == size and base64.b64decode(h) == tree.root()
    assert base64.b64decode(h) != hashlib.sha256(lines[-1]).digest()


def test_the_units_state_directory_passes(vault_dir):
    """What packaging/systemd/vaultd.service makes, vaultd accepts: the
    directory systemd creates (StateDirectory=, StateDirectoryMode=), owned
    by User=, with vaultd running as that user from the start and the key
    as a credential it can read. Debian's nobody stands in for vaultd."""
    unit = open(os.path.join(REPO, "packaging", "systemd", "vaultd.service")).read()
    settings = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and line[0] != "#")
    assert settings["StateDirectory"] == "vaultd" and settings["User"] == "vaultd"
    mode = int(settings["StateDirectoryMode"], 8)
    v = Vault(vault_dir)
    state = os.path.join(vault_dir, "lib-vaultd")
    os.mkdir(state, mode)
    os.chmod(state, mode)
    cred = os.path.join(vault_dir, "credentials")
    os.mkdir(cred, 0o700)
    shutil.copy(v.key, os.path.join(cred, "vaultd.key"))
    run = os.path.join(vault_dir, "run")  # the socket unit's place, here made by vaultd
    os.mkdir(run, 0o755)
    v.sock = os.path.join(run, "vaultd.sock")
    for path in (state, cred, os.path.join(cred, "vaultd.key"), run):
        os.chown(path, NOBODY, NOBODY)
    as_service = ["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups"]
    env = dict(os.environ, CREDENTIALS_DIRECTORY=cred)
    for _ in range(2):  # the second start opens what the first made
        log = open(v.log, "ab")
        p = subprocess.Popen(as_service + [VAULTD, "--state-dir", state, "--policy", v.policy, "--socket",
                                           v.sock, "--init-if-empty"], env=env, stdout=log, stderr=log)
        log.close()
        v.proc = p
        try:
            v.wait_ready()
            assert v.ctl("status").returncode == 0
        finally:
            assert v.stop() == 0, v.read_log()
    assert "first start: created vault" in v.read_log()
    for name in ("data.mdb", "lock.mdb", "checkpoint.last"):
        assert os.stat(os.path.join(state, name)).st_uid == NOBODY
