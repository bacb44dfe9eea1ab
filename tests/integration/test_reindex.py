"""RebuildIndex without a gap (issue #13): Find answers every match while a
rebuild is under way (it looks under the new index key and the one being
replaced), and the terms a Put gave in a bytes collection are kept sealed
under the version's data key so that a rebuild tags them again. Against the
real daemon, its keeper and its LMDB file."""
import os

from conftest import Client, audit_lines, b64, ok, put
from test_dispose import WRAPPED_AT, WRAPPED_LEN, backup
from test_metadata import Store

R = "io.vaultd.records."
CCCD = "037090001234"
OTHER = "001199000777"
PAST = "2000-01-01"


def find_all(c, coll, value, field="so_cccd", limit=None):
    """Every id Find answers for value, page by page; and whether it said
    it was rebuilding."""
    ids, after, rebuilding = [], None, False
    while True:
        params = {"collection": coll, "field": field, "value": value}
        if limit:
            params["limit"] = limit
        if after:
            params["after"] = after
        r = ok(c.call(R + "Find", params))
        ids += r["ids"]
        rebuilding = rebuilding or r.get("rebuilding", False)
        if "next" not in r:
            return ids, rebuilding
        after = r["next"]


def put_pipelined(c, coll, items):
    """Puts (id, body, params) items, 64 in flight."""
    sent = received = 0
    while received < len(items):
        while sent < len(items) and sent - received < 64:
            rid, body, kw = items[sent]
            c.send(R + "Put", dict(collection=coll, id=rid, data=b64(body), **kw))
            sent += 1
        assert "error" not in c.recv()
        received += 1


def rebuild(c, coll):
    return ok(c.call(R + "RebuildIndex", {"collection": coll}))


def value_of(i):
    return "%012d" % i


class IndexTables:
    """A stopped vault's index tables for one collection."""

    def __init__(self, vault, coll):
        store, p = Store(vault), coll.encode() + b"\0"
        self.ckeys = {k[len(p):]: v for k, v in store.table("ckeys").items() if k.startswith(p)}
        self.findex = set()
        for k in store.table("findex"):
            if k.startswith(p):
                field, rest = k[len(p):].split(b"\0", 1)
                self.findex.add((field, rest[:8], rest[8:]))
        self.fterms = {}
        for k, v in store.table("fterms").items():
            if k.startswith(p):
                gen, n, pos, tags = int.from_bytes(v[:8], "big"), v[8], 9, set()
                for _ in range(n):
                    fl = v[pos]
                    tags.add((v[pos + 1:pos + 1 + fl], v[pos + 1 + fl:pos + 9 + fl], k[len(p):]))
                    pos += 9 + fl
                sealed = v[pos + 10:] if len(v) > pos else None
                if sealed is not None:
                    assert int.from_bytes(v[pos + 8:pos + 10], "big") == len(sealed)
                self.fterms[k[len(p):]] = (gen, tags, sealed)

    def gens(self):
        return {g for g, _, _ in self.fterms.values()}

    def tags_of_fterms(self):
        return set().union(*(t for _, t, _ in self.fterms.values())) if self.fterms else set()


def assert_rebuilt(vault, coll, gen, old_key):
    """After a finished rebuild: every record's tags are of gen, findex
    holds exactly those, and the replaced key and the progress are gone."""
    t = IndexTables(vault, coll)
    assert t.gens() == {gen}, t.gens()
    assert t.findex == t.tags_of_fterms()
    assert sorted(t.ckeys) == [b"i"], sorted(t.ckeys)
    assert int.from_bytes(t.ckeys[b"i"][:8], "big") == gen
    wrapped_old = old_key[12:]
    assert all(wrapped_old not in v for v in t.ckeys.values())
    return t


def test_find_complete_during_rebuild_and_changes(vault):
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "scan", "index": ["so_cccd", "ma_ho"]}))
    items = []
    for i in range(1200):
        kw = {"index": {"so_cccd": CCCD if i % 250 == 0 else value_of(i), "ma_ho": "H-%d" % (i % 7)}}
        if i == 1002:
            kw["retain_until"] = PAST
        items.append(("S-%04d" % i, "pdf %d" % i, kw))
    put_pipelined(c, "scan", items)
    c.close()
    vault.stop()
    before = IndexTables(vault, "scan")
    old_key = before.ckeys[b"i"]
    assert before.gens() == {1} and all(s for _, _, s in before.fterms.values())
    vault.start()
    c = Client(vault.sock)
    r = rebuild(c, "scan")
    assert (r["generation"], r["rotated"], r["done"], r["records"], r["reindexed"]) == (2, True, False, 1000, 1000)
    expect = ["S-0000", "S-0250", "S-0500", "S-0750", "S-1000"]  # S-1000 still under the old key
    assert find_all(c, "scan", CCCD) == (expect, True)
    # Pages cross the generations: the same ids, in id order, 2 at a time.
    assert find_all(c, "scan", CCCD, limit=2) == (expect, True)
    assert find_all(c, "scan", value_of(1100)) == (["S-1100"], True)
    assert len(find_all(c, "scan", "H-3", field="ma_ho")[0]) == len([i for i in range(1200) if i % 7 == 3])
    # Changes to records not reached yet: a Put tags under the new key and
    # its old-generation entries go; a Delete and a disposal remove them.
    ok(put(c, "scan", "S-1000", "v2", index={"so_cccd": OTHER}))
    ok(c.call(R + "Delete", {"collection": "scan", "id": "S-1001"}))
    ok(c.call(R + "Dispose", {"collection": "scan", "id": "S-1002", "reason": "hết hạn"}))
    ok(put(c, "scan", "S-1500", "new", index={"so_cccd": CCCD}))
    assert find_all(c, "scan", CCCD) == (expect[:4] + ["S-1500"], True)
    assert find_all(c, "scan", OTHER) == (["S-1000"], True)
    assert find_all(c, "scan", value_of(1001))[0] == [] and find_all(c, "scan", value_of(1002))[0] == []
    c.close()
    vault.stop()
    mid = IndexTables(vault, "scan")
    # Half done: both generations, and the replaced key kept as it was.
    assert mid.gens() == {1, 2} and mid.ckeys[b"o"] == old_key and b"r" in mid.ckeys
    assert mid.findex == mid.tags_of_fterms()
    vault.start()
    c = Client(vault.sock)
    r = rebuild(c, "scan")
    assert (r["rotated"], r["done"], r["records"], r["current"], r["reindexed"], r["dropped"]) == \
        (False, True, 201, 2, 197, 0), r
    assert find_all(c, "scan", CCCD) == (expect[:4] + ["S-1500"], False)
    assert find_all(c, "scan", value_of(1100)) == (["S-1100"], False)
    c.close()
    vault.stop()
    after = assert_rebuilt(vault, "scan", 2, old_key)
    # No tag of the old generation is left anywhere in the index.
    assert not {t for _, t, _ in before.findex} & {t for _, t, _ in after.findex}
    vault.start()
    lines = [x for x in audit_lines(vault.export()) if x["op"] == "records.rebuild-index"]
    assert [(x["generation"], x["done"], x["records"], x["total"]) for x in lines] == \
        [(2, False, 1000, 1000), (2, True, 201, 1201)]


def test_kill9_in_the_middle_of_a_rebuild_then_resume(vault):
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "lon", "index": ["so_cccd"]}))
    n = 2100
    put_pipelined(c, "lon", [("L-%04d" % i, "x", {"index": {"so_cccd": CCCD if i % 700 == 0 else value_of(i)}})
                             for i in range(n)])
    expect = ["L-0000", "L-0700", "L-1400"]
    c.close()
    vault.stop()
    old_key = IndexTables(vault, "lon").ckeys[b"i"]
    vault.start()
    c = Client(vault.sock)
    assert (rebuild(c, "lon")["done"], find_all(c, "lon", CCCD)) == (False, (expect, True))
    vault.kill9()
    vault.start()
    c = Client(vault.sock)
    assert find_all(c, "lon", CCCD) == (expect, True)
    # Killed while a call runs: it either committed or left no trace.
    c.send(R + "RebuildIndex", {"collection": "lon"})
    vault.kill9()
    vault.start()
    c = Client(vault.sock)
    assert find_all(c, "lon", CCCD) == (expect, True)
    assert find_all(c, "lon", value_of(n - 1)) == (["L-%04d" % (n - 1)], True)
    calls = []
    while not calls or not calls[-1]["done"]:
        calls.append(rebuild(c, "lon"))
    assert all(r["generation"] == 2 and not r["rotated"] for r in calls), calls
    assert calls[-1]["dropped"] == 0 and sum(r["reindexed"] for r in calls) == sum(r["records"] for r in calls)
    assert find_all(c, "lon", CCCD) == (expect, False)
    c.close()
    vault.stop()
    assert len(assert_rebuilt(vault, "lon", 2, old_key).fterms) == n
    vault.start()
    lines = [x for x in audit_lines(vault.export()) if x["op"] == "records.rebuild-index"]
    assert lines[-1]["total"] == n and lines[-1]["done"] is True


def test_given_terms_are_never_in_the_clear(vault):
    v1, v2, v3 = "CCCD-Q7Z-0421", "CCCD-W3X-9186", "CCCD-K5J-3370"
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "scan", "index": ["so_cccd"]}))
    ok(c.call(R + "CreateCollection", {"collection": "ncc", "content": "json", "index": ["so_cccd"]}))
    ok(put(c, "scan", "B-1", "pdf", index={"so_cccd": v1}))
    ok(put(c, "scan", "B-1", "pdf v2", index={"so_cccd": v2}))
    # In a json collection the given terms win over the body's, in a rebuild too.
    ok(put(c, "ncc", "J-1", '{"so_cccd": "%s"}' % OTHER, index={"so_cccd": v3}))
    for coll in ("scan", "ncc"):
        r = rebuild(c, coll)
        assert (r["done"], r["reindexed"], r["dropped"]) == (True, 1, 0), r
    assert find_all(c, "scan", v2)[0] == ["B-1"] and find_all(c, "scan", v1)[0] == []
    assert find_all(c, "ncc", v3)[0] == ["J-1"] and find_all(c, "ncc", OTHER)[0] == []
    path = backup(vault, "b.mdb")
    export = vault.export()
    c.close()
    vault.stop()
    files = {"data.mdb": os.path.join(vault.state, "data.mdb"), "backup": path, "log": vault.log}
    blobs = {name: open(p, "rb").read() for name, p in files.items()}
    blobs["export"] = export
    for value in (v1, v2, v3):
        for name, blob in blobs.items():
            for enc in ("utf-8", "utf-16-le"):
                assert value.encode(enc) not in blob, (value, name, enc)
    vault.start()


def test_disposal_destroys_the_kept_terms(vault):
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "scan", "index": ["so_cccd"]}))
    ok(put(c, "scan", "D-1", "pdf", index={"so_cccd": CCCD}, retain_until=PAST))
    before = backup(vault, "before.mdb")
    c.close()
    vault.stop()
    sealed = IndexTables(vault, "scan").fterms[b"D-1"][2]
    version = next(v for k, v in Store(vault).table("versions").items() if k.startswith(b"scan\0D-1\0"))
    wrapped_dek = version[WRAPPED_AT:WRAPPED_AT + WRAPPED_LEN]
    raw = open(before, "rb").read()
    assert sealed and len(sealed) > 40 and sealed in raw and wrapped_dek in raw  # the search can fail
    vault.start()
    c = Client(vault.sock)
    ok(c.call(R + "Dispose", {"collection": "scan", "id": "D-1", "reason": "hết hạn"}))
    raw = open(backup(vault, "after.mdb"), "rb").read()
    assert sealed not in raw and wrapped_dek not in raw
    r = rebuild(c, "scan")
    assert (r["records"], r["reindexed"], r["dropped"]) == (1, 0, 0), r


def test_terms_without_a_sealed_copy_are_dropped(vault):
    """Records put before terms were kept (no sealed copy) lose their tags
    in a rebuild, as documented; a sealed copy that does not open is
    counted unreadable."""
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "scan", "index": ["so_cccd"]}))
    for rid in ("OLD", "BAD", "GOOD"):
        ok(put(c, "scan", rid, "pdf", index={"so_cccd": CCCD}))
    c.close()
    vault.stop()
    store = Store(vault)
    fterms = store.table("fterms")
    old = fterms[b"scan\0OLD"]
    fterms[b"scan\0OLD"] = old[:9 + old[9] + 1 + 8]  # as an older vaultd wrote it
    bad = bytearray(fterms[b"scan\0BAD"])
    bad[-1] ^= 1
    fterms[b"scan\0BAD"] = bytes(bad)
    store.save()
    vault.start()
    c = Client(vault.sock)
    assert find_all(c, "scan", CCCD)[0] == ["BAD", "GOOD", "OLD"]
    r = rebuild(c, "scan")
    assert (r["records"], r["reindexed"], r["dropped"], r["unreadable"]) == (3, 1, 2, 1), r
    assert find_all(c, "scan", CCCD)[0] == ["GOOD"]


def test_kek_rotation_during_a_rebuild_moves_the_replaced_key(vault):
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "lon", "index": ["so_cccd"]}))
    put_pipelined(c, "lon", [("L-%04d" % i, "x", {"index": {"so_cccd": value_of(i)}}) for i in range(1005)])
    assert not rebuild(c, "lon")["done"]
    ok(c.call("io.vaultd.admin.RotateKey", {}))
    r = c.call("io.vaultd.admin.RetireKey", {"version": 1})
    assert r["error"] == "io.vaultd.admin.KeyInUse", r
    while not ok(c.call("io.vaultd.admin.Rewrap", {}))["done"]:
        pass
    ok(c.call("io.vaultd.admin.RetireKey", {"version": 1}))
    # The replaced key opens under the new KEK: records not rebuilt yet are found.
    assert find_all(c, "lon", value_of(1004)) == (["L-1004"], True)
    r = rebuild(c, "lon")
    assert (r["done"], r["reindexed"]) == (True, 5), r
    assert find_all(c, "lon", value_of(1004)) == (["L-1004"], False)


def test_kept_terms_in_a_private_ids_collection(vault):
    """The sealed terms are bound to the id as stored (its pseudonym)."""
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "kin", "index": ["so_cccd"], "private_ids": True}))
    ok(put(c, "kin", "CCCD-099887766554", "scan", index={"so_cccd": CCCD}))
    r = rebuild(c, "kin")
    assert (r["done"], r["reindexed"], r["dropped"], r["unreadable"]) == (True, 1, 0, 0), r
    assert find_all(c, "kin", CCCD) == (["CCCD-099887766554"], False)
