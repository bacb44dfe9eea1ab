"""Retention, legal hold and disposition by crypto-shredding (issue #13),
against the real daemon, its LMDB file and its backups."""
import json
import os
import subprocess
import time

from conftest import Client, audit_lines, ok, put

R = "io.vaultd.records."
PAST = "2000-01-01"
# A versions value: header(29) then envelope: format(1) kek(4)
# wrapped DEK(72) nonce(24) ciphertext+tag.
HEADER, WRAPPED_AT, WRAPPED_LEN, NONCE = 29, 29 + 5, 72, 24


def test_retention_hold_and_dispose(vault):
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "ho-so", "retention": "1d"}))
    ok(put(c, "ho-so", "HS-1", "first", retain_until=PAST))
    ok(put(c, "ho-so", "HS-1", "second"))
    ok(put(c, "ho-so", "HS-2", "kept"))
    ok(put(c, "tam", "T-1", "no retention at all"))
    # HS-2 falls due a day after its last change; T-1 never (none defined).
    r = c.call(R + "Dispose", {"collection": "ho-so", "id": "HS-2", "reason": "test"})
    assert r["error"] == R + "RetentionActive" and r["parameters"]["due"] > PAST
    r = c.call(R + "Dispose", {"collection": "tam", "id": "T-1", "reason": "test"})
    assert r["error"] == R + "RetentionActive" and "due" not in r["parameters"]
    assert "no retention is defined" in r["parameters"]["reason"]
    # A hold stops a due record from being disposed of, and from being due.
    ok(c.call(R + "SetHold", {"collection": "ho-so", "id": "HS-1", "hold": True, "reason": "thanh tra 2026"}))
    r = c.call(R + "Dispose", {"collection": "ho-so", "id": "HS-1", "reason": "test"})
    assert r["error"] == R + "OnHold" and r["parameters"]["reason"] == "thanh tra 2026"
    assert ok(c.call(R + "Due", {"collection": "ho-so"}))["records"] == []
    holds = ok(c.call(R + "ListHolds", {}))["holds"]
    assert [(h["collection"], h["id"], h["reason"]) for h in holds] == [("ho-so", "HS-1", "thanh tra 2026")]
    ok(c.call(R + "SetHold", {"collection": "ho-so", "id": "HS-1", "hold": False, "reason": "closed"}))
    due = ok(c.call(R + "Due", {"collection": "ho-so"}))["records"]
    assert [(d["id"], d["version"]) for d in due] == [("HS-1", 2)] and due[0]["due"].startswith("2000-01-01")
    for bad in ({"reason": ""}, {"reason": "a\x1bb"}, {"reason": "x" * 257}, {}):
        r = c.call(R + "Dispose", dict(collection="ho-so", id="HS-1", **bad))
        assert r["error"] == R + "InvalidParameter", (bad, r)
    d = ok(c.call(R + "Dispose", {"collection": "ho-so", "id": "HS-1", "reason": "hết hạn lưu trữ"}))
    assert (d["versions"], d["shredded"]) == (2, 2)
    # Gone for good: Get says when and why; the id is retired.
    for params in ({}, {"version": 1}):
        r = c.call(R + "Get", dict(collection="ho-so", id="HS-1", **params))
        assert r["error"] == R + "Disposed", r
        p = r["parameters"]
        assert (p["reason"], p["versions"], p["time"]) == ("hết hạn lưu trữ", 2, d["time"])
    assert put(c, "ho-so", "HS-1", "again")["error"] == R + "Disposed"
    assert c.call(R + "Delete", {"collection": "ho-so", "id": "HS-1"})["error"] == R + "Disposed"
    assert c.call(R + "Dispose", {"collection": "ho-so", "id": "HS-1", "reason": "x"})["error"] == R + "Disposed"
    assert c.call(R + "SetHold", {"collection": "ho-so", "id": "HS-1", "hold": True,
                                  "reason": "x"})["error"] == R + "Disposed"
    # The fact remains: its history, the counts, and a trail that verifies.
    hist = ok(c.call(R + "History", {"collection": "ho-so", "id": "HS-1"}))["versions"]
    assert [(h["version"], h["size"]) for h in hist] == [(1, 5), (2, 6)]
    assert [x["id"] for x in ok(c.call(R + "List", {"collection": "ho-so"}))["records"]] == ["HS-2"]
    col = ok(c.call(R + "GetCollection", {"collection": "ho-so"}))["collection"]
    assert (col["live"], col["disposed"]) == (1, 1)
    verify = ok(c.call("io.vaultd.audit.Verify", {}))
    assert verify["records"] >= 3
    lines = audit_lines(vault.export())
    disp = [e for e in lines if e["op"] == "records.dispose" and e["result"] == "ok"]
    assert len(disp) == 1 and (disp[0]["reason"], disp[0]["versions"], disp[0]["shredded"]) == \
        ("hết hạn lưu trữ", 2, 2)
    holds = [(e["hold"], e["reason"]) for e in lines if e["op"] == "records.set-hold" and e["result"] == "ok"]
    assert holds == [(True, "thanh tra 2026"), (False, "closed")]
    assert [e["retain_until"] for e in lines if "retain_until" in e] == ["2000-01-01T00:00:00.000000Z"]
    # Status counts it no more among the live records, after a restart too.
    vault.stop()
    vault.start()
    st = ok(Client(vault.sock).call("io.vaultd.admin.Status", {}))
    assert st["records"] == 2  # HS-2 and T-1


def versions_of(path, coll, rid):
    """{version: stored value} from an LMDB file (mdb_dump, no daemon)."""
    args = ["mdb_dump", "-s", "versions"] + (["-n", path] if os.path.isfile(path) else [path])
    out = subprocess.run(args, capture_output=True, check=True).stdout.decode().split("\n")
    start, end = out.index("HEADER=END") + 1, out.index("DATA=END")
    prefix = coll.encode() + b"\0" + rid.encode() + b"\0"
    found = {}
    for i in range(start, end, 2):
        key = bytes.fromhex(out[i].strip())
        if key.startswith(prefix):
            found[int.from_bytes(key[-8:], "big")] = bytes.fromhex(out[i + 1].strip())
    return found


def secrets_of(value):
    """What would decrypt a version: its wrapped data key (with the KEK,
    the data key) and its ciphertext."""
    return value[WRAPPED_AT:WRAPPED_AT + WRAPPED_LEN], value[WRAPPED_AT + WRAPPED_LEN + NONCE:]


def backup(vault, name):
    path = os.path.join(vault.root, name)
    r = vault.ctl("backup", path)
    assert r.returncode == 0, r.stderr
    return path


def test_disposed_versions_cannot_be_decrypted_from_a_later_backup(vault):
    c = Client(vault.sock)
    small, big = os.urandom(300), os.urandom(40000)  # a leaf page and overflow pages
    for rid, body in (("SMALL", small), ("BIG", big)):
        for n in range(2):
            ok(put(c, "ho-so", rid, body[n:], retain_until=PAST))
    before = backup(vault, "before.mdb")
    secrets = []
    for rid in ("SMALL", "BIG"):
        vals = versions_of(before, "ho-so", rid)
        assert sorted(vals) == [1, 2]
        for v in vals.values():
            wrapped, ct = secrets_of(v)
            assert len(wrapped) == WRAPPED_LEN and len(ct) > 256
            secrets += [wrapped, ct[:64], ct[len(ct) // 2:len(ct) // 2 + 64], ct[-64:]]
    with open(before, "rb") as f:
        raw = f.read()
    # The search can fail: the copy taken before the disposal holds them all.
    assert all(s in raw for s in secrets)
    for rid in ("SMALL", "BIG"):
        d = ok(c.call(R + "Dispose", {"collection": "ho-so", "id": rid, "reason": "proof"}))
        assert d["shredded"] == 2
    after = backup(vault, "after.mdb")
    with open(after, "rb") as f:
        raw = f.read()
    left = [i for i, s in enumerate(secrets) if s in raw]
    assert left == [], "a backup after the disposal still holds secrets %s" % left
    # What remains of each version is its header, as its audit line wrote it.
    for rid in ("SMALL", "BIG"):
        vals = versions_of(after, "ho-so", rid)
        assert sorted(vals) == [1, 2] and all(len(v) == HEADER and v[0] == 5 for v in vals.values())
    r = vault.ctl("backup", "verify", after)
    assert r.returncode == 0, r.stderr
    # The live store: see docs/protocol.md, "What a disposal removes".
    with open(os.path.join(vault.state, "data.mdb"), "rb") as f:
        live = f.read()
    print("live data.mdb still holds %d of %d secrets" % (sum(s in live for s in secrets), len(secrets)))


def test_vaultctl_hold_due_dispose(vault):
    v = vault
    # Retention that ends after the records were written (one already due
    # when written would be marked shortened, and left out of --due).
    soon = time.time() + 2
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(soon))
    for rid in ("123/QĐ-UBND", "124/QĐ-UBND"):
        v.ctl("put", "người-có-công", rid, "-", "--retain-until", until, input=b"x", check=True)
    v.ctl("put", "người-có-công", "125/QĐ-UBND", "-", input=b"x", check=True)
    r = v.ctl("hold", "set", "người-có-công", "124/QĐ-UBND", "--reason", "thanh tra", check=True)
    assert r.stdout_text == "on hold\n"
    assert "124/QĐ-UBND" in v.ctl("hold", "list", check=True).stdout_text
    time.sleep(max(0, soon + 1 - time.time()))
    r = v.ctl("records", "due", "người-có-công", check=True)
    assert r.stdout_text.startswith("123/QĐ-UBND  due " + until[:10]) and "124" not in r.stdout_text
    assert "set by a service" not in r.stdout_text
    r = v.ctl("dispose", "người-có-công", "124/QĐ-UBND", "--reason", "x")
    assert r.returncode == 1 and "OnHold" in r.stderr
    r = v.ctl("dispose", "người-có-công", "125/QĐ-UBND", "--reason", "x")
    assert r.returncode == 1 and "RetentionActive" in r.stderr
    assert v.ctl("dispose", "người-có-công", "123/QĐ-UBND").returncode == 2  # --reason is required
    # Without a terminal to confirm on, --due disposes of nothing without --yes.
    r = v.ctl("dispose", "--due", "người-có-công", "--reason", "hết hạn")
    assert r.returncode == 2 and "--yes" in r.stderr
    v.ctl("hold", "clear", "người-có-công", "124/QĐ-UBND", "--reason", "xong", check=True)
    r = v.ctl("dispose", "--due", "người-có-công", "--reason", "hết hạn", "--yes", check=True)
    assert "disposed of 2 of 2 due records" in r.stdout_text
    r = v.ctl("get", "người-có-công", "123/QĐ-UBND")
    assert r.returncode == 1 and "Disposed" in r.stderr and "hết hạn" in r.stderr
    assert v.ctl("records", "due", "người-có-công", check=True).stdout_text == "no record is due\n"
    assert v.ctl("get", "người-có-công", "125/QĐ-UBND", check=True).stdout == b"x"


def forge_disposal(vault, rid, entry):
    """Stops the vault and strips record rid's bodies as Dispose would
    (each version keeps its 29-byte header, its kind saying disposed),
    with entry as its records-control value (None: none), then starts
    it again: what someone who can write data.mdb could do."""
    from test_metadata import Store, hkey, vkey

    vault.stop()
    s = Store(vault)
    versions, recctl = s.table("versions"), s.table("recctl")
    n = 1
    while vkey("ho-so", rid, n) in versions:
        versions[vkey("ho-so", rid, n)] = bytes([5]) + versions[vkey("ho-so", rid, n)][1:HEADER]
        n += 1
    if entry is not None:
        recctl[hkey("ho-so", rid)] = json.dumps({"disposed": entry}, separators=(",", ":")).encode()
    s.save()
    vault.start()


def verify_problems(vault):
    r = vault.ctl("audit", "verify", json_out=True)
    assert r.returncode == 3, r.stdout_text + r.stderr
    err = json.loads(r.stdout)
    assert err["error"] == "io.vaultd.audit.RecordsInconsistent", r.stdout_text
    return [(p["id"], p.get("version"), p["reason"]) for p in err["parameters"]["problems"]]


def test_verify_names_a_disposal_the_trail_never_wrote(vault):
    from test_metadata import Store, hkey

    c = Client(vault.sock)
    for rid in ("REAL", "F-NONE", "F-PUTLINE", "F-OTHER", "F-TIME"):
        ok(put(c, "ho-so", rid, "body of " + rid, retain_until=PAST))
    ok(put(c, "ho-so", "F-PUTLINE", "second"))
    for rid in ("REAL", "F-TIME"):
        ok(c.call(R + "Dispose", {"collection": "ho-so", "id": rid, "reason": "het han"}))
    assert ok(c.call("io.vaultd.audit.Verify", {}))["records"] == 5
    vault.stop()
    real, ftime = (json.loads(Store(vault).table("recctl")[hkey("ho-so", rid)])["disposed"]
                   for rid in ("REAL", "F-TIME"))
    vault.start()
    put_seq = next(e["seq"] for e in audit_lines(vault.export())
                   if e["op"] == "records.put" and e.get("id") == "F-PUTLINE" and e["version"] == 2)
    # No entry at all; one naming a put line; REAL's own entry, copied; a
    # real disposal's entry with its time changed.
    forge_disposal(vault, "F-NONE", None)
    forge_disposal(vault, "F-PUTLINE", dict(real, seq=put_seq, versions=2))
    forge_disposal(vault, "F-OTHER", dict(real, versions=1))
    forge_disposal(vault, "F-TIME", dict(ftime, time="2001-01-01T00:00:00.000000Z"))
    problems = verify_problems(vault)
    named = {p[0] for p in problems}
    assert named == {"F-NONE", "F-PUTLINE", "F-OTHER", "F-TIME"}, problems
    why = {(p[0], p[1]): p[2] for p in problems}
    assert "never disposed of" in why[("F-NONE", 1)]
    assert "no disposal that succeeded" in why[("F-PUTLINE", 1)] and ("F-PUTLINE", 2) in why
    assert "another record" in why[("F-OTHER", 1)]
    assert "disposal time" in why[("F-TIME", 1)]
    # Get answers the forged disposal (the store says so); Verify is what
    # tells it from a real one.
    assert Client(vault.sock).call(R + "Get", {"collection": "ho-so", "id": "F-OTHER"})["error"] == R + "Disposed"


def test_a_deleted_record_disposed_of_answers_disposed(vault):
    c = Client(vault.sock)
    ok(put(c, "ho-so", "DEL-1", "v1", retain_until=PAST))
    ok(c.call(R + "Delete", {"collection": "ho-so", "id": "DEL-1"}))
    r = c.call(R + "Get", {"collection": "ho-so", "id": "DEL-1"})
    assert r["error"] == R + "NotFound", r  # deleted, not yet disposed of
    d = ok(c.call(R + "Dispose", {"collection": "ho-so", "id": "DEL-1", "reason": "het han"}))
    assert (d["versions"], d["shredded"]) == (2, 1)  # the tombstone had no body
    # Its latest version is the deletion; the record is still disposed of.
    for params in ({}, {"version": 1}, {"version": 2}):
        r = c.call(R + "Get", dict(collection="ho-so", id="DEL-1", **params))
        assert r["error"] == R + "Disposed", (params, r)
        p = r["parameters"]
        assert (p["reason"], p["versions"], p["time"]) == ("het han", 2, d["time"])
    r = c.call(R + "Get", {"collection": "ho-so", "id": "DEL-1", "version": 3})
    assert r["error"] == R + "NotFound", r
    r = vault.ctl("get", "ho-so", "DEL-1")
    assert r.returncode == 1 and "Disposed" in r.stderr and "het han" in r.stderr, r.stderr
    ok(c.call("io.vaultd.audit.Verify", {}))


def test_disposing_large_versions_writes_no_copy_of_them(vault):
    """A version on overflow pages is shredded by dropping its pages, not
    by writing its length of zeros first: the review measured +96 MiB of
    file for a record of 12 versions of 8 MiB, and a full disk refuses
    such a disposal."""
    c = Client(vault.sock)
    body = os.urandom(2 << 20)
    for n in range(4):
        ok(put(c, "ho-so", "LON", body[n:], retain_until=PAST))
    ok(put(c, "ho-so", "NHO", "x", retain_until=PAST))
    path = os.path.join(vault.state, "data.mdb")
    size = os.stat(path).st_size
    d = ok(c.call(R + "Dispose", {"collection": "ho-so", "id": "LON", "reason": "proof"}))
    assert d["shredded"] == 4
    ok(c.call(R + "Dispose", {"collection": "ho-so", "id": "NHO", "reason": "proof"}))
    grown = os.stat(path).st_size - size
    assert grown < (1 << 20), "the disposal grew data.mdb by %d bytes" % grown
    r = c.call(R + "Get", {"collection": "ho-so", "id": "LON", "version": 2})
    assert r["error"] == R + "Disposed"


def test_a_service_that_shortens_retention_is_marked_and_left_out_of_dispose_due(vault):
    """A service gives retain_until, so a compromised one can make its own
    records due at once (a review's finding): Due marks such a record
    shortened, dispose --due leaves it out and lists it, and the disposal
    line says on what basis the record was due."""
    v, c = vault, Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "tro-cap", "retention": "10y"}))
    ok(put(c, "tro-cap", "A-1", "x"))
    ok(put(c, "tro-cap", "A-2", "x", retain_until=PAST))  # shortened by the service
    ok(put(c, "tro-cap", "A-3", "x", retain_until="2999-01-01"))
    r = c.call(R + "Dispose", {"collection": "tro-cap", "id": "A-1", "reason": "x"})
    assert r["error"] == R + "RetentionActive"
    due = ok(c.call(R + "Due", {"collection": "tro-cap"}))["records"]
    assert [(d["id"], d["basis"], d.get("shortened")) for d in due] == [("A-2", "retain_until", True)]
    # No period: a record due already when it was written is marked too.
    ok(put(c, "ho-so", "B-1", "x", retain_until=PAST))
    due = ok(c.call(R + "Due", {"collection": "ho-so"}))["records"]
    assert [(d["id"], d["basis"], d.get("shortened")) for d in due] == [("B-1", "retain_until", True)]
    r = v.ctl("records", "due", "tro-cap", check=True)
    assert "set by a service" in r.stdout_text
    r = v.ctl("dispose", "--due", "tro-cap", "--reason", "hết hạn", "--yes", check=True)
    assert "left 1 record of tro-cap" in r.stdout_text and "  A-2\n" in r.stdout_text
    assert "no other record of tro-cap is due" in r.stdout_text
    assert ok(c.call(R + "Get", {"collection": "tro-cap", "id": "A-2"}))["data"]
    r = v.ctl("dispose", "--due", "tro-cap", "--reason", "đã kiểm tra", "--yes", "--include-shortened",
              check=True)
    assert "disposed of 1 of 1 due record in tro-cap" in r.stdout_text
    assert c.call(R + "Get", {"collection": "tro-cap", "id": "A-2"})["error"] == R + "Disposed"
    assert v.ctl("dispose", "tro-cap", "A-1", "--reason", "x", "--include-shortened").returncode == 2
    line = [x for x in audit_lines(v.export()) if x["op"] == "records.dispose" and x["result"] == "ok"][-1]
    assert (line["basis"], line["shortened"]) == ("retain_until", True)


def test_list_holds_pages_and_reads_a_bounded_share_per_call(vault):
    """ListHolds walks records' control entries, which every record with a
    retain_until has: one call reads at most 10,000 of them and says where
    to go on, so no call holds the writer for the whole store."""
    c = Client(vault.sock)
    # More control entries without a hold than one call reads, before the
    # holds.
    for start in range(0, 10050, 50):
        for i in range(start, start + 50):
            c.send(R + "Put", {"collection": "a-truoc", "id": "R-%05d" % i, "data": "eA==",
                               "retain_until": "2999-01-01"})
        for i in range(50):
            assert "error" not in c.recv()
    held = ["H-%d" % i for i in range(5)]
    for rid in held:
        ok(put(c, "b-giu", rid, "x"))
        ok(c.call(R + "SetHold", {"collection": "b-giu", "id": rid, "hold": True, "reason": "thanh tra"}))
    page = ok(c.call(R + "ListHolds", {"limit": 2}))
    assert page["holds"] == [] and "next" in page  # 10,000 entries read, none held
    got = []
    while "next" in page:
        page = ok(c.call(R + "ListHolds", {"limit": 2, "after": page["next"]}))
        got += [h["id"] for h in page["holds"]]
    assert got == held
    page = ok(c.call(R + "ListHolds", {"collection": "b-giu", "limit": 3}))
    assert [h["id"] for h in page["holds"]] == held[:3]
    rest = ok(c.call(R + "ListHolds", {"collection": "b-giu", "after": page["next"]}))
    assert [h["id"] for h in rest["holds"]] == held[3:] and "next" not in rest
    for bad in ("zz", "00" * 300, ""):
        r = c.call(R + "ListHolds", {"after": bad})
        assert r["error"] == R + "InvalidParameter" and r["parameters"]["parameter"] == "after", r
    r = c.call(R + "ListHolds", {"collection": "a-truoc", "after": page["next"]})
    assert r["error"] == R + "InvalidParameter"
    r = vault.ctl("hold", "list", check=True)
    assert r.stdout_text.count("thanh tra") == 5
