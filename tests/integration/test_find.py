"""Find by a field's value without storing it (issue #13, stage 3), against
the real daemon, its keeper and its LMDB file."""
import json
import os

from conftest import Client, audit_lines, ok, put

R = "io.vaultd.records."
CCCD = "037090001234"
OTHER = "001199000777"


def find(c, coll, field, value, **kw):
    return ok(c.call(R + "Find", dict(collection=coll, field=field, value=value, **kw)))["ids"]


def test_find_given_terms_follow_updates_deletes(vault):
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "ho-ngheo", "index": ["so_cccd", "ma_ho"]}))
    ok(put(c, "ho-ngheo", "HN-1", "scan", index={"so_cccd": CCCD, "ma_ho": "H-7"}))
    ok(put(c, "ho-ngheo", "HN-2", "scan", index={"so_cccd": CCCD}))
    ok(put(c, "ho-ngheo", "HN-3", "scan", index={"so_cccd": OTHER}))
    ok(put(c, "ho-ngheo", "HN-4", "scan"))
    assert find(c, "ho-ngheo", "so_cccd", CCCD) == ["HN-1", "HN-2"]
    assert find(c, "ho-ngheo", "so_cccd", OTHER) == ["HN-3"]
    assert find(c, "ho-ngheo", "ma_ho", "H-7") == ["HN-1"]
    # Per field: the same value under another field is another tag.
    assert find(c, "ho-ngheo", "ma_ho", CCCD) == []
    assert find(c, "ho-ngheo", "so_cccd", "037090001235") == []
    # Paging.
    r = ok(c.call(R + "Find", {"collection": "ho-ngheo", "field": "so_cccd", "value": CCCD, "limit": 1}))
    assert r["ids"] == ["HN-1"] and r["next"] == "HN-1"
    r = ok(c.call(R + "Find", {"collection": "ho-ngheo", "field": "so_cccd", "value": CCCD, "after": "HN-1"}))
    assert r["ids"] == ["HN-2"] and "next" not in r
    # A new version's terms replace the old ones; a version without any
    # leaves the record unfound.
    ok(put(c, "ho-ngheo", "HN-2", "moved", index={"so_cccd": OTHER}))
    assert find(c, "ho-ngheo", "so_cccd", CCCD) == ["HN-1"]
    assert find(c, "ho-ngheo", "so_cccd", OTHER) == ["HN-2", "HN-3"]
    ok(put(c, "ho-ngheo", "HN-1", "no terms"))
    assert find(c, "ho-ngheo", "so_cccd", CCCD) == []
    assert find(c, "ho-ngheo", "ma_ho", "H-7") == []
    # A Delete removes the record from the index.
    ok(c.call(R + "Delete", {"collection": "ho-ngheo", "id": "HN-3"}))
    assert find(c, "ho-ngheo", "so_cccd", OTHER) == ["HN-2"]


def test_json_terms_from_body_and_nfc(vault):
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "nguoi-co-cong", "content": "json",
                                       "index": ["so_cccd", "ho_ten"]}))
    ok(put(c, "nguoi-co-cong", "NCC-1", json.dumps({"ho_ten": "Nguyễn Văn A", "so_cccd": CCCD,
                                                     "nested": {"so_cccd": OTHER}})))
    # Escapes are decoded; a number counts by its text; nested fields do not.
    ok(put(c, "nguoi-co-cong", "NCC-2", '{"so_cccd": "\\u0030370900012\\u0033\\u0034", "x": [1, {"a": "}"}]}'))
    ok(put(c, "nguoi-co-cong", "NCC-3", '{"x": "{\\"so_cccd\\": 1}", "so_cccd": 123456}'))
    assert find(c, "nguoi-co-cong", "so_cccd", CCCD) == ["NCC-1", "NCC-2"]
    assert find(c, "nguoi-co-cong", "so_cccd", OTHER) == []
    assert find(c, "nguoi-co-cong", "so_cccd", "123456") == ["NCC-3"]
    # The value is compared in NFC: a decomposed "ễ" finds the composed one.
    assert find(c, "nguoi-co-cong", "ho_ten", "Nguye\u0302\u0303n Va\u0306n A") == ["NCC-1"]
    # Given terms win over the body's.
    ok(put(c, "nguoi-co-cong", "NCC-1", json.dumps({"so_cccd": CCCD}), index={"so_cccd": OTHER}))
    assert find(c, "nguoi-co-cong", "so_cccd", OTHER) == ["NCC-1"]
    # A bad value in the body is refused, naming no byte of it.
    r = put(c, "nguoi-co-cong", "NCC-4", json.dumps({"so_cccd": "a\u0007b"}))
    assert r["error"] == R + "InvalidContent" and "a\u0007b" not in json.dumps(r)


def test_find_refusals_and_audit(vault):
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "tre-em", "index": ["so_cccd"]}))
    ok(put(c, "tre-em", "TE-1", "x", index={"so_cccd": CCCD}))
    bad = [
        ({"collection": "tre-em", "field": "ho_ten", "value": "x"}, "InvalidParameter", "field"),
        ({"collection": "tre-em", "field": "so_cccd", "value": ""}, "InvalidParameter", "value"),
        ({"collection": "tre-em", "field": "so_cccd", "value": "a\x1b[2Jb"}, "InvalidParameter", "value"),
        ({"collection": "tre-em", "field": "so_cccd", "value": "x" * 257}, "InvalidParameter", "value"),
        ({"collection": "tre-em", "field": "so_cccd"}, "InvalidParameter", "value"),
        ({"collection": "khong-co", "field": "so_cccd", "value": "1"}, "CollectionNotFound", None),
    ]
    for params, err, param in bad:
        r = c.call(R + "Find", params)
        assert r["error"] == R + err, (params, r)
        if param:
            assert r["parameters"]["parameter"] == param
    for index, why in (({"ho_ten": "x"}, "not an index field"), ({"so_cccd": 12}, "1-256 bytes"),
                       ("037", "must be an object")):
        r = put(c, "tre-em", "TE-2", "x", index=index)
        assert r["error"] == R + "InvalidParameter" and why in r["parameters"]["reason"], r
    ok(put(c, "tam", "T-1", "x"))
    r = put(c, "tam", "T-1", "x", index={"so_cccd": CCCD})
    assert r["error"] == R + "InvalidParameter" and "no index fields" in r["parameters"]["reason"]
    assert find(c, "tre-em", "so_cccd", CCCD) == ["TE-1"]
    # The trail says a Find happened, on which field, how many matched, and
    # what fields a Put indexed - never a value.
    export = vault.export()
    lines = audit_lines(export)
    finds = [x for x in lines if x["op"] == "records.find" and x["result"] == "ok"]
    assert finds[-1]["field"] == "so_cccd" and finds[-1]["matched"] == 1 and "id" not in finds[-1]
    puts = [x for x in lines if x["op"] == "records.put" and x.get("id") == "TE-1"]
    assert puts[-1]["index"] == ["so_cccd"]
    assert CCCD.encode() not in export


def test_value_is_nowhere_in_the_store(vault):
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "bao-tro", "content": "json", "index": ["so_cccd"]}))
    ok(put(c, "bao-tro", "BT-1", "{}", index={"so_cccd": CCCD}))
    ok(put(c, "bao-tro", "BT-2", json.dumps({"so_cccd": OTHER})))
    assert find(c, "bao-tro", "so_cccd", CCCD) == ["BT-1"]
    assert find(c, "bao-tro", "so_cccd", OTHER) == ["BT-2"]
    c.close()
    vault.stop()
    with open(os.path.join(vault.state, "data.mdb"), "rb") as f:
        data = f.read()
    for value in (CCCD, OTHER):
        assert value.encode() not in data and value.encode("utf-16-le") not in data
    vault.start()
    c = Client(vault.sock)
    # The index key survives a restart (it is stored wrapped, not derived
    # from anything that changes).
    assert find(c, "bao-tro", "so_cccd", CCCD) == ["BT-1"]


def test_dispose_and_key_rotation(vault):
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "ho-so", "index": ["so_cccd"]}))
    ok(put(c, "ho-so", "HS-1", "x", index={"so_cccd": CCCD}, retain_until="2000-01-01"))
    ok(put(c, "ho-so", "HS-2", "x", index={"so_cccd": CCCD}))
    ok(c.call(R + "Dispose", {"collection": "ho-so", "id": "HS-1", "reason": "hết hạn"}))
    assert find(c, "ho-so", "so_cccd", CCCD) == ["HS-2"]
    # The index key is wrapped by a KEK like a data key: rewrap moves it,
    # and the old KEK cannot be retired before.
    ok(c.call("io.vaultd.admin.RotateKey", {}))
    r = c.call("io.vaultd.admin.RetireKey", {"version": 1})
    assert r["error"] == "io.vaultd.admin.KeyInUse", r
    while not ok(c.call("io.vaultd.admin.Rewrap", {}))["done"]:
        pass
    keys = {k["version"]: k["data_keys"] for k in ok(c.call("io.vaultd.admin.ListKeys", {}))["keys"]}
    assert keys[1] == 0 and keys[2] >= 2
    ok(c.call("io.vaultd.admin.RetireKey", {"version": 1}))
    assert find(c, "ho-so", "so_cccd", CCCD) == ["HS-2"]
    ok(put(c, "ho-so", "HS-3", "x", index={"so_cccd": CCCD}))
    assert find(c, "ho-so", "so_cccd", CCCD) == ["HS-2", "HS-3"]


def test_vaultctl_put_index_and_find(vault):
    vault.ctl("collection", "create", "ho-ngheo", "--index", "so_cccd", check=True)
    vault.ctl("put", "ho-ngheo", "123/QĐ-UBND", "-", "--index", "so_cccd=" + CCCD, input="scan", check=True)
    vault.ctl("put", "ho-ngheo", "HN-2", "-", "--index", "so_cccd=" + OTHER, input="scan", check=True)
    r = vault.ctl("find", "ho-ngheo", "so_cccd", CCCD, check=True)
    assert r.stdout_text == "123/QĐ-UBND\n"
    r = vault.ctl("find", "ho-ngheo", "so_cccd", "-", input=OTHER + "\n", check=True)
    assert r.stdout_text == "HN-2\n"
    r = vault.ctl("find", "ho-ngheo", "so_cccd", "999", json_out=True, check=True)
    assert r.json["ids"] == []
    r = vault.ctl("find", "ho-ngheo", "ho_ten", "x")
    assert r.returncode != 0 and "not an index field" in r.stderr
    r = vault.ctl("put", "ho-ngheo", "HN-3", "-", "--index", "so_cccd", input="x")
    assert r.returncode != 0 and "FIELD=VALUE" in r.stderr


def findex_tags(vault, coll):
    """The tags filed in the findex table of the stopped vault for coll:
    {(field, tag bytes, id)}."""
    from test_metadata import Store

    out = set()
    for k in Store(vault).table("findex"):
        c, field, rest = k.split(b"\0", 2)
        if c == coll.encode():
            out.add((field.decode(), rest[:8], rest[8:].decode()))
    return out


def rebuild(c, coll):
    return ok(c.call(R + "RebuildIndex", {"collection": coll}))


def test_rebuild_index_new_key_json_and_bytes(vault):
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "ncc", "content": "json", "index": ["so_cccd"]}))
    ok(c.call(R + "CreateCollection", {"collection": "scan", "index": ["so_cccd"]}))
    ok(put(c, "ncc", "J-1", json.dumps({"so_cccd": CCCD})))
    ok(put(c, "ncc", "J-2", json.dumps({"so_cccd": OTHER})))
    ok(put(c, "ncc", "J-3", json.dumps({"so_cccd": OTHER})))
    ok(c.call(R + "Delete", {"collection": "ncc", "id": "J-3"}))
    ok(put(c, "scan", "B-1", "pdf", index={"so_cccd": CCCD}))
    ok(put(c, "scan", "B-2", "pdf"))
    c.close()
    vault.stop()
    before = findex_tags(vault, "ncc") | findex_tags(vault, "scan")
    vault.start()
    c = Client(vault.sock)
    r = rebuild(c, "ncc")
    assert (r["generation"], r["rotated"], r["done"]) == (2, True, True), r
    assert (r["records"], r["reindexed"], r["dropped"], r["current"], r["unreadable"]) == (3, 2, 0, 0, 0), r
    assert find(c, "ncc", "so_cccd", CCCD) == ["J-1"] and find(c, "ncc", "so_cccd", OTHER) == ["J-2"]
    # A bytes collection's terms given at Put are kept sealed: tagged again.
    r = rebuild(c, "scan")
    assert (r["generation"], r["done"], r["records"], r["reindexed"], r["dropped"]) == (2, True, 2, 1, 0), r
    assert find(c, "scan", "so_cccd", CCCD) == ["B-1"]
    # A second rebuild makes a third key.
    assert rebuild(c, "ncc")["generation"] == 3
    assert find(c, "ncc", "so_cccd", CCCD) == ["J-1"]
    c.close()
    vault.stop()
    after = findex_tags(vault, "ncc") | findex_tags(vault, "scan")
    vault.start()
    # No tag made under the old key is left: the old tags match nothing.
    assert len(before) == len(after) == 3 and not before & after, (before, after)
    assert {(f, i) for f, _, i in after} == {("so_cccd", "J-1"), ("so_cccd", "J-2"), ("so_cccd", "B-1")}
    lines = [x for x in audit_lines(vault.export()) if x["op"] == "records.rebuild-index"]
    assert [(x["collection"], x["generation"], x["dropped"], x["reindexed"]) for x in lines] == \
        [("ncc", 2, 0, 2), ("scan", 2, 0, 1), ("ncc", 3, 0, 2)]
    text = json.dumps(lines)
    assert CCCD not in text and OTHER not in text and "J-1" not in text
    c = Client(vault.sock)
    r = c.call(R + "RebuildIndex", {"collection": "none-such"})
    assert r["error"] == R + "CollectionNotFound", r


def test_rebuild_index_in_turns(vault):
    """A collection larger than one call's share is rebuilt over several
    calls; meanwhile Find says it is rebuilding and still finds every
    record, and a Put uses the new key at once."""
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "lon", "content": "json", "index": ["so_cccd"]}))
    n = 1000 + 5
    for i in range(n):
        ok(put(c, "lon", "L-%04d" % i, json.dumps({"so_cccd": CCCD if i % 500 == 0 else str(i)})))
    r = rebuild(c, "lon")
    assert (r["rotated"], r["done"], r["records"], r["reindexed"]) == (True, False, 1000, 1000), r
    f = ok(c.call(R + "Find", {"collection": "lon", "field": "so_cccd", "value": "1004"}))
    assert f["ids"] == ["L-1004"] and f["rebuilding"] is True  # not reached yet: under the old key
    # Both generations at once, in id order: L-1000 is not rebuilt yet.
    f = ok(c.call(R + "Find", {"collection": "lon", "field": "so_cccd", "value": CCCD}))
    assert f["ids"] == ["L-0000", "L-0500", "L-1000"] and f["rebuilding"] is True
    ok(put(c, "lon", "L-1004", json.dumps({"so_cccd": "1004"})))
    assert find(c, "lon", "so_cccd", "1004") == ["L-1004"]
    r = rebuild(c, "lon")
    assert (r["rotated"], r["done"], r["records"], r["reindexed"], r["current"]) == (False, True, 5, 4, 1), r
    f = ok(c.call(R + "Find", {"collection": "lon", "field": "so_cccd", "value": CCCD}))
    assert f["ids"] == ["L-0000", "L-0500", "L-1000"] and "rebuilding" not in f


def test_rebuild_index_private_ids(vault):
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "kin", "content": "json", "index": ["so_cccd"],
                                       "private_ids": True}))
    ok(put(c, "kin", "CCCD-099887766554", json.dumps({"so_cccd": CCCD})))
    r = rebuild(c, "kin")
    assert (r["done"], r["reindexed"]) == (True, 1), r
    assert find(c, "kin", "so_cccd", CCCD) == ["CCCD-099887766554"]


def test_vaultctl_collection_rebuild_index(vault):
    vault.ctl("collection", "create", "ho-ngheo", "--index", "so_cccd", check=True)
    vault.ctl("put", "ho-ngheo", "HN-1", "-", "--index", "so_cccd=" + CCCD, input="scan", check=True)
    r = vault.ctl("collection", "rebuild-index", "ho-ngheo", check=True)
    assert r.stdout_text.startswith("index key generation 2: 1 records, 1 re-indexed") and \
        "0 dropped" in r.stdout_text, r.stdout_text
    r = vault.ctl("collection", "rebuild-index", "ho-ngheo", json_out=True, check=True)
    assert (r.json["generation"], r.json["records"], r.json["reindexed"], r.json["calls"]) == (3, 1, 1, 1)
    assert vault.ctl("find", "ho-ngheo", "so_cccd", CCCD, check=True).stdout_text == "HN-1\n"
