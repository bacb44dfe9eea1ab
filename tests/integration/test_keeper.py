"""The key keeper, seen from outside: the worker's memory never holds the
root key, a KEK or the signing key, and key rotation with rewrap under
concurrent load loses nothing. (The keeper's own signing rule is tested
against a real keeper in tests/unit/test-keeper.c.)"""
import base64
import os
import re
import subprocess
import threading
import time

from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt as xchacha_decrypt
from nacl.pwhash import argon2id

from conftest import Client, audit_lines

NONCE = 24


def keeper_pid(vault):
    with open("/proc/%d/task/%d/children" % (vault.proc.pid, vault.proc.pid)) as f:
        pids = [int(p) for p in f.read().split()]
    assert len(pids) == 1, pids
    return pids[0]


def dump(state, db):
    """(key, value) pairs of one named database, as bytes."""
    out = subprocess.run(["mdb_dump", "-s", db, state], capture_output=True, check=True).stdout.decode()
    lines = out.split("\n")
    body = lines[lines.index("HEADER=END") + 1:lines.index("DATA=END")]
    return [(bytes.fromhex(body[i].strip()), bytes.fromhex(body[i + 1].strip())) for i in range(0, len(body), 2)]


def root_key(vault, passphrase=None):
    """The root key from the vault's key file."""
    return root_key_file(vault.key, passphrase)


def root_key_file(path, passphrase=None):
    """The root key from a key file (opening a sealed one with pynacl)."""
    with open(path) as f:
        lines = f.read().split("\n")
    if lines[0] == "vaultd-root-key 1 plain":
        return base64.b64decode(lines[1])
    _, ops, mem, salt = lines[1].split()
    kek = argon2id.kdf(32, passphrase.encode(), base64.b64decode(salt), opslimit=int(ops), memlimit=int(mem))
    box = base64.b64decode(lines[2])
    return xchacha_decrypt(box[NONCE:], b"vaultd-root-key sealed", box[:NONCE], kek)


def secrets(vault, passphrase=None):
    """The root key, every KEK and the signing key, unwrapped from the
    store with the key file, as the keeper holds them."""
    root = root_key(vault, passphrase)
    found = {"root key": root}
    for key, wrapped in dump(vault.state, "keys"):
        ad = b"vaultd-kek\0" + key
        found["KEK v%d" % int.from_bytes(key, "big")] = xchacha_decrypt(wrapped[NONCE:], ad, wrapped[:NONCE], root)
    sign = dict(dump(vault.state, "meta"))[b"sign.key"]
    sk = xchacha_decrypt(sign[NONCE:], b"vaultd-audit-signing-key", sign[:NONCE], root)
    found["signing key"] = sk[:32]  # the seed half of the Ed25519 secret key
    return found


# Mappings larger than this are a sanitizer's shadow memory (terabytes of
# address space), not the daemon's data.
MAPPING_MAX = 1 << 32
CHUNK = 1 << 20


def found_in_memory(pid, needles):
    """Which of needles (name -> bytes) occur anywhere in the process's
    mapped memory, inaccessible pages included (root reads them through
    /proc/PID/mem as a debugger would). Read in chunks that overlap."""
    found, overlap = set(), max(len(v) for v in needles.values()) - 1
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(\S*)", line)
            start, end, name = int(m[1], 16), int(m[2], 16), m[3]
            if name in ("[vvar]", "[vsyscall]") or end - start > MAPPING_MAX:
                continue
            tail = b""
            for at in range(start, end, CHUNK):
                try:
                    mem.seek(at)
                    chunk = tail + mem.read(min(CHUNK, end - at))
                except OSError:
                    break
                found |= {k for k, v in needles.items() if v in chunk}
                tail = chunk[-overlap:]
    return found


def assert_only_keeper_holds(vault, label):
    keys = secrets(vault)
    leaked = found_in_memory(vault.proc.pid, keys)
    assert not leaked, "%s: the worker's memory holds the %s" % (label, ", ".join(sorted(leaked)))
    # The scan works: the keeper does hold every one of them.
    held = found_in_memory(keeper_pid(vault), keys)
    assert held == set(keys), "%s: %s not found in the keeper (the scan is blind)" % (
        label, set(keys) - held)


def test_worker_memory_never_holds_a_key(vault):
    c = Client(vault.sock)
    for i in range(50):
        assert "error" not in c.call("io.vaultd.records.Put", {"collection": "c", "id": "M-%d" % i,
                                                               "data": base64.b64encode(b"x" * i).decode()})
    c.call("io.vaultd.records.Get", {"collection": "c", "id": "M-7"})
    assert_only_keeper_holds(vault, "after start and records")
    assert c.call("io.vaultd.admin.RotateKey")["parameters"]["version"] == 2
    assert "error" not in c.call("io.vaultd.records.Put", {"collection": "c", "id": "M-new", "data": ""})
    while not c.call("io.vaultd.admin.Rewrap")["parameters"]["done"]:
        pass
    assert_only_keeper_holds(vault, "after rotation and rewrap")


def test_keeper_is_confined(vault):
    pid = keeper_pid(vault)
    with open("/proc/%d/status" % pid) as f:
        status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    assert status["Seccomp"].strip() == "2" and status["NoNewPrivs"].strip() == "1"
    assert status["Uid"].split()[0] != "0"  # not root: the same account as the worker
    # Nothing but its socketpair and the standard descriptors.
    assert sorted(int(fd) for fd in os.listdir("/proc/%d/fd" % pid)) == [0, 1, 2, 3]


def test_rotate_and_rewrap_under_load_lose_nothing(vault):
    acked, errors, stop = {}, [], threading.Event()

    def writer(n):
        c = Client(vault.sock)
        i = 0
        while not stop.is_set():
            rid, body = "L%d-%d" % (n, i % 40), os.urandom(64 + i % 300)
            r = c.call("io.vaultd.records.Put", {"collection": "load", "id": rid,
                                                 "data": base64.b64encode(body).decode()})
            if "error" in r:
                errors.append(r)
                return
            acked[(rid, r["parameters"]["version"])] = body
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    admin = Client(vault.sock)
    rewrapped = 0
    for _ in range(3):  # rotate three times while writers write, rewrap in small steps
        time.sleep(0.4)
        assert "error" not in admin.call("io.vaultd.admin.RotateKey")
        while True:
            r = admin.call("io.vaultd.admin.Rewrap", {"limit": 50})["parameters"]
            rewrapped += r["rewrapped"]
            if r["done"]:
                break
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors[:3]
    assert rewrapped > 0 and len(acked) > 100
    keys = admin.call("io.vaultd.admin.ListKeys")["parameters"]["keys"]
    current = [k["version"] for k in keys if k["current"]]
    assert current == [4], keys
    # Writes racing the last rewrap went under the current KEK already.
    assert all(k["data_keys"] == 0 for k in keys if not k["current"]), keys
    for v in (1, 2, 3):
        assert admin.call("io.vaultd.admin.RetireKey", {"version": v})["parameters"]["version"] == v
    # Every acknowledged version of every record still decrypts, exactly.
    items = list(acked.items())
    for at in range(0, len(items), Client.PIPELINE_WINDOW):
        chunk = items[at:at + Client.PIPELINE_WINDOW]
        for (rid, version), body in chunk:
            admin.send("io.vaultd.records.Get", {"collection": "load", "id": rid, "version": version})
        for (rid, version), body in chunk:
            r = admin.recv()
            assert base64.b64decode(r["parameters"]["data"]) == body, (rid, version, r)
    # And after a restart, from the store alone.
    assert vault.stop() == 0
    vault.start()
    c = Client(vault.sock)
    (rid, version), body = next(iter(acked.items()))
    r = c.call("io.vaultd.records.Get", {"collection": "load", "id": rid, "version": version})
    assert base64.b64decode(r["parameters"]["data"]) == body
    assert vault.ctl("audit", "verify").returncode == 0




def test_rekey_offline_moves_every_key_under_a_new_root(vault):
    """vaultd --rekey, with vaultd stopped: the root key is replaced (and a
    plain key file becomes a sealed one) without a root key ever leaving a
    running keeper."""
    import subprocess
    from conftest import VAULTD
    c = Client(vault.sock)
    body = base64.b64encode(b"dossier kept across the rekey").decode()
    assert c.call("io.vaultd.records.Put", {"collection": "c", "id": "K-1", "data": body})["parameters"]
    c.call("io.vaultd.admin.RotateKey")
    old = secrets(vault)
    assert vault.stop() == 0
    new_key, pf = vault.key + ".new", os.path.join(vault.root, "new-pass")
    with open(pf, "w") as f:
        f.write("khóa gốc mới\n")
    assert subprocess.run([VAULTD, "--generate-key", new_key, "--passphrase-file", pf]).returncode == 0
    base = [VAULTD, "--rekey", "--state-dir", vault.state, "--key-file", vault.key, "--new-key-file", new_key]
    # A wrong passphrase for the new key changes nothing.
    bad = os.path.join(vault.root, "bad-pass")
    with open(bad, "w") as f:
        f.write("wrong\n")
    r = subprocess.run(base + ["--new-passphrase-file", bad], capture_output=True, text=True)
    assert r.returncode == 1 and "wrong passphrase" in r.stderr
    r = subprocess.run(base + ["--new-passphrase-file", pf], capture_output=True, text=True)
    assert r.returncode == 0 and "2 KEKs" in r.stdout, r.stderr
    # The old key file no longer opens the vault.
    p = vault.start(wait=False)
    assert p.wait(timeout=20) == 1 and "does not open this vault" in vault.read_log()
    vault.proc = None
    os.replace(new_key, vault.key)
    vault.start()
    c = Client(vault.sock)
    assert c.call("io.vaultd.admin.Unseal", {"passphrase": "khóa gốc mới"})["parameters"]["state"] == "serving"
    assert c.call("io.vaultd.records.Get", {"collection": "c", "id": "K-1"})["parameters"]["data"] == body
    new = secrets(vault, "khóa gốc mới")
    assert new["root key"] != old["root key"]
    assert (new["KEK v1"], new["KEK v2"], new["signing key"]) == (old["KEK v1"], old["KEK v2"], old["signing key"])
    assert vault.ctl("audit", "verify").returncode == 0
    line = [e for e in audit_lines(vault.export()) if e["op"] == "admin.rekey"]
    assert len(line) == 1 and line[0]["keks"] == 2 and line[0]["actor"]["role"] == "system"
