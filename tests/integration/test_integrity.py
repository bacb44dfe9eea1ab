"""Tampering with the store on disk is detected (real LMDB file, mdb_dump/mdb_load)."""
import hashlib
import os
import subprocess

from conftest import Client, audit_lines


def dump(state, db):
    out = subprocess.run(["mdb_dump", "-s", db, state], capture_output=True, check=True).stdout
    return out.decode().split("\n")


def load(state, db, lines):
    subprocess.run(["mdb_load", "-s", db, state], input="\n".join(lines).encode(), check=True)


def data_pairs(lines):
    """Indexes of (key line, value line) pairs in an mdb_dump body."""
    start = lines.index("HEADER=END") + 1
    end = lines.index("DATA=END")
    return [(i, i + 1) for i in range(start, end, 2)]


def alter_audit_line(vault, seq, old, new):
    """Replaces old by new inside stored audit line seq (daemon stopped)."""
    lines = dump(vault.state, "audit")
    _, v = data_pairs(lines)[seq]
    lines[v] = " " + bytes.fromhex(lines[v].strip()).replace(old, new).hex()
    load(vault.state, "audit", lines)


def dump_all(state):
    return subprocess.run(["mdb_dump", "-a", state], capture_output=True,
                          check=True).stdout.decode().split("\n")


def load_all(vault, text):
    """mdb_load cannot delete: replaces the store by one built from text."""
    rebuilt = os.path.join(vault.root, "rebuilt")
    os.mkdir(rebuilt)
    subprocess.run(["mdb_load", rebuilt], input="\n".join(text).encode(), check=True)
    os.replace(os.path.join(rebuilt, "data.mdb"), os.path.join(vault.state, "data.mdb"))


def flip_hex(value, pos):
    b = bytearray(bytes.fromhex(value.strip()))
    b[pos] ^= 0x01
    return " " + b.hex()


def find_version(lines, coll, rid, version):
    key = (coll.encode() + b"\0" + rid.encode() + b"\0" + version.to_bytes(8, "big")).hex()
    for k, v in data_pairs(lines):
        if lines[k].strip() == key:
            return k, v
    raise AssertionError("version not found in dump")


def flip_ciphertext(vault, coll, rid, version):
    """Flips one bit of a stored version's sealed body, 20 bytes from the
    end of its value (daemon stopped)."""
    lines = dump(vault.state, "versions")
    _, v = find_version(lines, coll, rid, version)
    lines[v] = flip_hex(lines[v], len(bytes.fromhex(lines[v].strip())) - 20)
    load(vault.state, "versions", lines)


def test_flipped_ciphertext_is_integrity_error(vault):
    vault.ctl("put", "c", "R-1", "-", input=b"a" * 100, check=True)
    vault.stop()
    flip_ciphertext(vault, "c", "R-1", 1)
    vault.start()
    r = vault.ctl("get", "c", "R-1")
    assert r.returncode == 3 and "IntegrityError" in r.stderr and r.stdout == b""
    assert audit_lines(vault.export())[-2]["error"] == "IntegrityError"


def test_ciphertext_moved_to_another_version_fails(vault):
    vault.ctl("put", "c", "R-1", "-", input=b"old allowance", check=True)
    vault.ctl("put", "c", "R-1", "-", input=b"new allowance", check=True)
    vault.stop()
    lines = dump(vault.state, "versions")
    _, v1 = find_version(lines, "c", "R-1", 1)
    _, v2 = find_version(lines, "c", "R-1", 2)
    lines[v2] = lines[v1]  # replay version 1's envelope as version 2
    load(vault.state, "versions", lines)
    vault.start()
    r = vault.ctl("get", "c", "R-1")
    assert r.returncode == 3 and "IntegrityError" in r.stderr
    assert vault.ctl("get", "c", "R-1", "--version", "1").stdout == b"old allowance"


def test_altered_audit_line_fails_online_verify(vault):
    for i in range(5):
        vault.ctl("put", "c", "R-%d" % i, "-", input=b"x", check=True)
    vault.stop()
    alter_audit_line(vault, 3, b'"R-2"', b'"R-9"')
    vault.start()
    r = vault.ctl("audit", "verify")
    assert r.returncode == 3 and "IntegrityError" in r.stderr and "seq=4" in r.stderr


def test_removed_audit_line_fails_online_verify(vault):
    for i in range(3):
        vault.ctl("put", "c", "R-%d" % i, "-", input=b"x", check=True)
    vault.stop()
    text = dump_all(vault.state)
    i = text.index(" " + (2).to_bytes(8, "big").hex(), text.index("database=audit"))
    del text[i:i + 2]  # line seq 2
    load_all(vault, text)
    vault.start()
    r = vault.ctl("audit", "verify")
    assert r.returncode == 3 and "IntegrityError" in r.stderr and "seq=2" in r.stderr


def test_altered_line_deep_in_a_long_trail(vault):
    # Past the first verification turn (5,000 lines).
    c = Client(vault.sock)
    c.put_many("c", 7000, records=10)
    c.close()
    vault.stop()
    alter_audit_line(vault, 6500, b'"records.put"', b'"records.get"')
    vault.start()
    r = vault.ctl("audit", "verify")
    assert r.returncode == 3 and "IntegrityError" in r.stderr and "seq=6501" in r.stderr


def test_truncated_trail_with_rewritten_head_is_caught(vault):
    # Cut the last lines and rewrite the stored head to match: the signed
    # checkpoint beyond the new end still gives it away.
    for i in range(5):
        vault.ctl("put", "c", "R-%d" % i, "-", input=b"x", check=True)
    vault.stop()  # signs a checkpoint covering every line
    text = dump_all(vault.state)
    start = text.index("database=audit")
    end = text.index("DATA=END", start)
    pairs = [(i, i + 1) for i in range(text.index("HEADER=END", start) + 1, end, 2)]
    keep = len(pairs) - 3
    last_line = bytes.fromhex(text[pairs[keep - 1][1]].strip())
    for k, v in reversed(pairs[keep:]):
        del text[k:v + 1]
    meta = text.index("database=meta")
    for i in range(text.index("HEADER=END", meta) + 1, text.index("DATA=END", meta), 2):
        key = bytes.fromhex(text[i].strip())
        if key == b"audit.next":
            text[i + 1] = " " + keep.to_bytes(8, "big").hex()
        elif key == b"audit.head":
            text[i + 1] = " " + hashlib.sha256(last_line).hexdigest()
    load_all(vault, text)
    # The keeper will only sign extensions of that checkpoint, so vaultd
    # refuses to serve a store that lost lines, and says why.
    p = vault.start(wait=False)
    assert p.wait(timeout=20) == 1
    assert "shorter than its last signed checkpoint" in vault.read_log(), vault.read_log()
    vault.proc = None
