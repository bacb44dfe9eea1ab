"""Record metadata is bound to the audit trail (issue #10): heads and
version headers edited in the real LMDB file of a stopped vault (mdb_dump,
mdb_load) are named by Verify after restart, and Get refuses what it can
tell is wrong. A version header is kind(1) time_us(8) uid(4) size(8)
seq(8); a head is version(8) state(1) created_us(8) updated_us(8)."""
import json
import os
import shutil
import subprocess

from conftest import Client, Vault, vault_from_fixture
from test_integrity import load_all

KIND_DATA, KIND_TOMBSTONE = 3, 4
ACTIVE, DELETED = 1, 2


class Store:
    """A stopped vault's whole store as `mdb_dump -a` prints it: edit its
    tables as dicts of bytes, then save (mdb_load into a new file, which
    replaces data.mdb, since mdb_load cannot delete)."""

    def __init__(self, vault):
        self.vault = vault
        text = subprocess.run(["mdb_dump", "-a", vault.state], capture_output=True,
                              check=True).stdout.decode().split("\n")
        self.sections = []
        i = 0
        while i < len(text):
            if not text[i].startswith("VERSION="):
                i += 1
                continue
            header = []
            while text[i] != "HEADER=END":
                header.append(text[i])
                i += 1
            i += 1
            data = {}
            while text[i] != "DATA=END":
                data[bytes.fromhex(text[i].strip())] = bytes.fromhex(text[i + 1].strip())
                i += 2
            name = next(h for h in header if h.startswith("database="))[len("database="):]
            self.sections.append((name, header, data))

    def table(self, name):
        return next(data for n, _, data in self.sections if n == name)

    def save(self):
        text = []
        for _, header, data in self.sections:
            text += header + ["HEADER=END"]
            for k, v in data.items():
                text += [" " + k.hex(), " " + v.hex()]
            text.append("DATA=END")
        load_all(self.vault, text)
        shutil.rmtree(os.path.join(self.vault.root, "rebuilt"))


def vkey(coll, rid, version):
    return coll.encode() + b"\0" + rid.encode() + b"\0" + version.to_bytes(8, "big")


def hkey(coll, rid):
    return coll.encode() + b"\0" + rid.encode()


def header(value):
    """kind, time_us, uid, size, seq of a stored version."""
    return (value[0], int.from_bytes(value[1:9], "big"), int.from_bytes(value[9:13], "big"),
            int.from_bytes(value[13:21], "big"), int.from_bytes(value[21:29], "big"))


def with_field(value, offset, size, number):
    return value[:offset] + number.to_bytes(size, "big") + value[offset + size:]


def head(value):
    """version, state, created_us, updated_us of a stored head."""
    return (int.from_bytes(value[0:8], "big"), value[8], int.from_bytes(value[9:17], "big"),
            int.from_bytes(value[17:25], "big"))


def make_head(version, state, created, updated):
    return (version.to_bytes(8, "big") + bytes([state]) + created.to_bytes(8, "big")
            + updated.to_bytes(8, "big"))


def put(vault, coll, rid, body):
    vault.ctl("put", coll, rid, "-", input=body, check=True)


class Problems(list):
    """What Verify named: (collection, id, version, reason) each."""

    def records(self):
        return sorted({p[:3] for p in self})

    def reason(self, coll, rid, version, text):
        """Whether Verify named that version for a reason containing text."""
        return any(p[:3] == (coll, rid, version) and text in p[3] for p in self)


def verify(vault):
    """vaultctl audit verify --json on records that do not match the trail:
    exit code 3 and RecordsInconsistent; returns the Problems named."""
    r = vault.ctl("audit", "verify", json_out=True)
    assert r.returncode == 3, r.stdout_text + r.stderr
    err = json.loads(r.stdout)
    assert err["error"] == "io.vaultd.audit.RecordsInconsistent", r.stdout_text
    found = Problems((p["collection"], p["id"], p.get("version"), p["reason"])
                     for p in err["parameters"]["problems"])
    assert err["parameters"]["count"] == len(found) >= 1
    return found


def get_error(vault, coll, rid, *args):
    r = vault.ctl("get", coll, rid, *args)
    assert r.returncode == 3 and "IntegrityError" in r.stderr and r.stdout == b"", r.stderr
    return r.stderr


def edit(vault, fn):
    """Stops the vault, lets fn edit its Store, saves it, starts it again."""
    vault.stop()
    s = Store(vault)
    fn(s)
    s.save()
    vault.start()


def test_untouched_vault_verifies_and_says_what_it_checked(vault):
    put(vault, "c", "R-1", b"one")
    put(vault, "c", "R-1", b"two")
    put(vault, "c", "R-2", b"x")
    vault.ctl("delete", "c", "R-2", check=True)
    put(vault, "c", "R-2", b"back")
    r = vault.ctl("audit", "verify", check=True)
    assert "the records match it: 2 records, 5 versions" in r.stdout_text
    v = vault.ctl("audit", "verify", json_out=True, check=True).json
    assert (v["records"], v["versions"]) == (2, 5)
    # Each version names the audit line that wrote it, with the same time.
    vault.stop()
    s = Store(vault)
    lines = {int.from_bytes(k, "big"): v for k, v in s.table("audit").items()}
    kind, time_us, uid, size, seq = header(s.table("versions")[vkey("c", "R-1", 2)])
    line = json.loads(lines[seq])
    assert (line["op"], line["id"], line["version"], line["size"]) == ("records.put", "R-1", 2, 3)
    assert (kind, uid, size) == (KIND_DATA, os.geteuid(), 3)
    vault.start()
    assert vault.ctl("history", "c", "R-1", json_out=True).json["versions"][1]["time"] == line["time"]


def test_head_rolled_back(vault):
    for body in (b"v1", b"v2", b"v3"):
        put(vault, "c", "R-1", body)
    put(vault, "c", "R-2", b"other")

    def roll_back(s):
        heads, versions = s.table("heads"), s.table("versions")
        _, _, created, _ = head(heads[hkey("c", "R-1")])
        t2 = header(versions[vkey("c", "R-1", 2)])[1]
        heads[hkey("c", "R-1")] = make_head(2, ACTIVE, created, t2)

    edit(vault, roll_back)
    problems = verify(vault)
    assert problems.records() == [("c", "R-1", 3)] and problems.reason("c", "R-1", 3, "rolled back")
    assert "rolled back" in get_error(vault, "c", "R-1")
    # The untouched record, and an older version asked for by number, read.
    assert vault.ctl("get", "c", "R-2").stdout == b"other"
    assert vault.ctl("get", "c", "R-1", "--version", "1").stdout == b"v1"


def test_latest_version_dropped(vault):
    for body in (b"v1", b"v2", b"v3"):
        put(vault, "c", "R-1", body)

    def drop(s):
        heads, versions = s.table("heads"), s.table("versions")
        del versions[vkey("c", "R-1", 3)]
        _, _, created, _ = head(heads[hkey("c", "R-1")])
        heads[hkey("c", "R-1")] = make_head(2, ACTIVE, created, header(versions[vkey("c", "R-1", 2)])[1])

    edit(vault, drop)
    problems = verify(vault)
    assert problems.records() == [("c", "R-1", 3)] and problems.reason("c", "R-1", 3, "does not hold it")


def test_undeleted_by_removing_the_tombstone(vault):
    put(vault, "c", "R-1", b"v1")
    put(vault, "c", "R-1", b"v2")
    vault.ctl("delete", "c", "R-1", check=True)

    def undelete(s):
        heads, versions = s.table("heads"), s.table("versions")
        del versions[vkey("c", "R-1", 3)]
        _, _, created, _ = head(heads[hkey("c", "R-1")])
        heads[hkey("c", "R-1")] = make_head(2, ACTIVE, created, header(versions[vkey("c", "R-1", 2)])[1])

    edit(vault, undelete)
    problems = verify(vault)
    assert problems.records() == [("c", "R-1", 3)] and problems.reason("c", "R-1", 3, "does not hold it")


def test_undeleted_by_flipping_the_head(vault):
    put(vault, "c", "R-1", b"v1")
    vault.ctl("delete", "c", "R-1", check=True)

    def undelete(s):
        heads = s.table("heads")
        h = heads[hkey("c", "R-1")]
        heads[hkey("c", "R-1")] = h[:8] + bytes([ACTIVE]) + h[9:]

    edit(vault, undelete)
    problems = verify(vault)
    assert problems.records() == [("c", "R-1", 2)] and problems.reason("c", "R-1", 2, "is a deletion")
    assert "is a deletion" in get_error(vault, "c", "R-1")
    assert vault.ctl("list", "c", json_out=True).json["records"][0]["id"] == "R-1"  # List is not checked


def test_deleted_by_a_forged_tombstone(vault):
    put(vault, "c", "R-1", b"v1")

    def forge(s):
        heads, versions = s.table("heads"), s.table("versions")
        _, t, uid, _, seq = header(versions[vkey("c", "R-1", 1)])
        versions[vkey("c", "R-1", 2)] = (bytes([KIND_TOMBSTONE]) + t.to_bytes(8, "big") + uid.to_bytes(4, "big")
                                         + bytes(8) + seq.to_bytes(8, "big"))
        heads[hkey("c", "R-1")] = make_head(2, DELETED, t, t)

    edit(vault, forge)
    problems = verify(vault)
    assert problems.reason("c", "R-1", 2, "wrote c/R-1 version 1, not this one")
    assert "not this one" in get_error(vault, "c", "R-1")


def test_version_time_uid_size_changed(vault):
    for rid in ("R-1", "R-2", "R-3"):
        put(vault, "c", rid, b"allowance 1200000")

    def rewrite(s):
        versions = s.table("versions")
        for rid, offset, size in (("R-1", 1, 8), ("R-2", 9, 4), ("R-3", 13, 8)):
            value = versions[vkey("c", rid, 1)]
            old = int.from_bytes(value[offset:offset + size], "big")
            versions[vkey("c", rid, 1)] = with_field(value, offset, size, old + 1000)

    edit(vault, rewrite)
    problems = verify(vault)
    assert problems.records() == [("c", "R-1", 1), ("c", "R-2", 1), ("c", "R-3", 1)]
    assert problems.reason("c", "R-1", 1, "its time is")
    assert problems.reason("c", "R-1", 1, "the head's update time")  # the head kept the true time
    assert problems.reason("c", "R-2", 1, "its uid is %d" % (os.geteuid() + 1000))
    assert problems.reason("c", "R-3", 1, "its size is 1017")
    # The body is sealed with its header: Get serves none of them (R-1's
    # head gives it away first).
    assert "update time" in get_error(vault, "c", "R-1")
    assert "does not authenticate" in get_error(vault, "c", "R-1", "--version", "1")
    for rid in ("R-2", "R-3"):
        assert "does not authenticate" in get_error(vault, "c", rid)
    # History shows stored metadata as it is; Verify is what checks it.
    assert vault.ctl("history", "c", "R-2", json_out=True).json["versions"][0]["uid"] == os.geteuid() + 1000


def test_two_records_bodies_swapped(vault):
    put(vault, "c", "R-1", b"pays 1,200,000 to account 1111")
    put(vault, "c", "R-2", b"pays 9,900,000 to account 2222")

    def swap(s):
        versions = s.table("versions")
        a, b = vkey("c", "R-1", 1), vkey("c", "R-2", 1)
        versions[a], versions[b] = versions[b], versions[a]

    edit(vault, swap)
    problems = verify(vault)
    assert problems.reason("c", "R-1", 1, "wrote c/R-2 version 1, not this one")
    assert problems.reason("c", "R-2", 1, "wrote c/R-1 version 1, not this one")
    for rid in ("R-1", "R-2"):
        get_error(vault, "c", rid)


def test_human_report_names_each_record(vault):
    put(vault, "c", "R-1", b"v1")
    put(vault, "c", "R-1", b"v2")

    def roll_back(s):
        heads, versions = s.table("heads"), s.table("versions")
        t1 = header(versions[vkey("c", "R-1", 1)])[1]
        heads[hkey("c", "R-1")] = make_head(1, ACTIVE, t1, t1)

    edit(vault, roll_back)
    r = vault.ctl("audit", "verify")
    assert r.returncode == 3 and r.stdout == b""
    assert "vaultctl: c/R-1 version 2: the head says version 1 is the latest" in r.stderr
    assert ("RecordsInconsistent: the audit trail verifies, but the stored records do not match it: 1 problem"
            in r.stderr), r.stderr


def test_a_version_past_the_first_turns_is_named(vault):
    # More lines and versions than one turn of the records check takes.
    c = Client(vault.sock)
    c.put_many("c", 7000, records=10)
    c.close()

    def rewrite(s):
        versions = s.table("versions")
        value = versions[vkey("c", "R-7", 650)]
        versions[vkey("c", "R-7", 650)] = with_field(value, 9, 4, 4242)

    edit(vault, rewrite)
    problems = verify(vault)
    assert problems.records() == [("c", "R-7", 650)] and problems.reason("c", "R-7", 650, "its uid is 4242")


def format1_vault(root):
    """A vault written by vaultd 0.1.0 before metadata was bound (store
    format 1, envelopes of format 2): tests/integration/fixtures."""
    return vault_from_fixture(root, "store-format1")


def test_old_store_is_upgraded_and_bound(vault_dir):
    v = format1_vault(vault_dir)
    v.start()
    try:
        assert "upgraded the store" in v.read_log() and "9 record versions bound" in v.read_log()
        r = v.ctl("audit", "verify", check=True)
        assert "the records match it: 4 records, 9 versions" in r.stdout_text
        assert v.ctl("get", "people", "P-1").stdout == b"third"
        assert v.ctl("get", "people", "P-1", "--version", "1").stdout == b"first allowance"
        assert v.ctl("get", "people", "P-2").returncode == 6
        assert v.ctl("get", "cases", "K-1").stdout == b"back again"
        lines = [json.loads(x) for x in v.export().split(b"\n")[1:] if b'"seq"' in x]
        up = [x for x in lines if x["op"] == "vault.upgrade"]
        assert len(up) == 1 and (up[0]["bound"], up[0]["unbound"], up[0]["format"]) == (9, 0, 2)
        # New writes bind as a new vault's do; the upgrade runs once.
        v.ctl("put", "people", "P-1", "-", input=b"fourth", check=True)
        v.stop()
        v.start()
        assert "upgraded" not in v.read_log().split("received Terminated")[-1]
        assert v.ctl("get", "people", "P-1").stdout == b"fourth"
        assert "4 records, 10 versions" in v.ctl("audit", "verify", check=True).stdout_text
        # An upgraded version's body does not bind its header (format 2):
        # Get checks that header against its audit line instead.
        v.stop()
        s = Store(v)
        versions = s.table("versions")
        versions[vkey("people", "P-1", 2)] = with_field(versions[vkey("people", "P-1", 2)], 9, 4, 77)
        s.save()
        v.start()
        assert "its uid is 77" in get_error(v, "people", "P-1", "--version", "2")
        assert verify(v).reason("people", "P-1", 2, "its uid is 77")
    finally:
        v.stop()


def test_record_count_is_kept_in_the_store_not_counted_at_start(vault):
    """Start-up reads the count of active records from the store (issue
    #12: no scan of every record); a store without it is counted once."""
    for rid in ("C-1", "C-2", "C-3"):
        put(vault, "c", rid, b"x")
    vault.ctl("delete", "c", "C-2", check=True)
    assert vault.ctl("status", json_out=True).json["records"] == 2
    vault.stop()
    s = Store(vault)
    meta = s.table("meta")
    assert int.from_bytes(meta[b"records.active"], "big") == 2
    meta[b"records.active"] = (41).to_bytes(8, "big")  # what start-up must trust
    s.save()
    vault.start()
    assert vault.ctl("status", json_out=True).json["records"] == 41
    put(vault, "c", "C-4", b"x")
    vault.stop()
    s = Store(vault)
    assert int.from_bytes(s.table("meta")[b"records.active"], "big") == 42
    del s.table("meta")[b"records.active"]  # as a store written before the count was kept
    s.save()
    vault.start()
    assert vault.ctl("status", json_out=True).json["records"] == 3
    vault.stop()
    assert int.from_bytes(Store(vault).table("meta")[b"records.active"], "big") == 3
    vault.start()
