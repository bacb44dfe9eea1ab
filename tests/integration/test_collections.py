"""Collections with settings (issue #13): created and changed by admins,
audited with old and new settings, json content checked at Put, implicit
collections kept working, Unicode names in NFC, counts by role."""
import base64
import json
import unicodedata

import pytest

from conftest import Client, Vault, audit_lines, calls_as

R = "io.vaultd.records."
SERVICE, AUDITOR = 65534, 4242

POLICY = """\
allow user root role admin,auditor
allow user root role service collections *
allow user %d role service collections tre-em,hồ-sơ
allow user %d role auditor
""" % (SERVICE, AUDITOR)


def b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


@pytest.fixture
def cvault(vault_dir):
    v = Vault(vault_dir, policy=POLICY)
    v.start()
    yield v
    assert v.stop() == 0


def put(c, coll, rid, body, **kw):
    return c.call(R + "Put", dict(collection=coll, id=rid, data=b64(body), **kw))


def test_create_show_set_audited_with_old_and_new(cvault):
    c = Client(cvault.sock)
    r = c.call(R + "CreateCollection", {"collection": "nguoi-co-cong", "retention": "10y",
                                        "content": "json", "index": ["so_cccd"]})
    col = r["parameters"]["collection"]
    assert (col["collection"], col["defined"], col["content"], col["retention"], col["index"]) == \
        ("nguoi-co-cong", True, "json", "10y", ["so_cccd"])
    assert col["live"] == 0 and "created" in col
    r = c.call(R + "CreateCollection", {"collection": "nguoi-co-cong"})
    assert r["error"] == R + "CollectionExists"
    r = c.call(R + "SetCollection", {"collection": "nguoi-co-cong", "retention": "18m"})
    assert r["parameters"]["collection"]["retention"] == "18m"
    assert r["parameters"]["collection"]["content"] == "json"
    r = c.call(R + "SetCollection", {"collection": "khong-co", "retention": "1y"})
    assert r["error"] == R + "CollectionNotFound"
    for bad in ({"retention": "10"}, {"retention": "0y"}, {"retention": "201y"}, {"content": "xml"},
                {"index": ["So-CCCD"]}, {"index": ["a", "a"]}, {}):
        r = c.call(R + "SetCollection", dict(collection="nguoi-co-cong", **bad))
        assert r["error"] == R + "InvalidParameter", (bad, r)
    lines = [e for e in audit_lines(cvault.export()) if e["op"].endswith("-collection")]
    ops = [(e["op"], e["result"]) for e in lines]
    assert ops[:4] == [("records.create-collection", "ok"), ("records.create-collection", "error"),
                       ("records.set-collection", "ok"), ("records.set-collection", "error")]
    assert lines[0]["settings"] == {"content": "json", "retention": "10y", "index": ["so_cccd"],
                                    "private_ids": False}
    assert lines[2]["old"]["retention"] == "10y" and lines[2]["new"]["retention"] == "18m"
    assert lines[2]["new"]["content"] == "json"


def test_json_content_refused_with_position(cvault):
    c = Client(cvault.sock)
    c.call(R + "CreateCollection", {"collection": "ho-ngheo", "content": "json"})
    assert put(c, "ho-ngheo", "HN-1", '{"ho_ten": "Lê Thị B", "so": [1, 2.5e3, null]}')["parameters"] == \
        {"version": 1}
    cases = [
        (b'{"a": 1,\n "b": zzq}', 2, 7, "expected a value"),
        (b'[1, 2]', 1, 1, "JSON object"),
        (b'', 1, 1, "empty"),
        (b'{"a": 1} x', 1, 10, "more after the object"),
        (b'{"a": "\xff"}', 1, 8, "not UTF-8"),
        ('{"tên": 1 "b": 2}'.encode(), 1, 11, "expected ',' or '}'"),
        (b'{"a":' + b'[' * 200, 1, 6 + 127, "nested too deep"),
    ]
    for body, line, column, why in cases:
        r = put(c, "ho-ngheo", "HN-2", body)
        assert r["error"] == R + "InvalidContent", (body, r)
        p = r["parameters"]
        assert (p["parameter"], p["line"], p["column"]) == ("data", line, column), (body, p)
        assert why in p["reason"], (body, p)
        assert "zzq" not in json.dumps(r)
    # A bytes collection (the default, and every implicit one) takes anything.
    assert "error" not in put(c, "scans", "S-1", b"%PDF-1.7 \x00\xff")
    c.call(R + "SetCollection", {"collection": "ho-ngheo", "content": "bytes"})
    assert "error" not in put(c, "ho-ngheo", "HN-2", b"not json")
    # Nothing of a refused body reaches the trail: only where it went wrong.
    lines = [e for e in audit_lines(cvault.export()) if e.get("error") == "InvalidContent"]
    assert len(lines) == len(cases) and all(set(e) >= {"position"} for e in lines)
    assert b"zzq" not in cvault.export()


def test_implicit_collections_keep_working(cvault):
    c = Client(cvault.sock)
    put(c, "tre-em", "TE-1", "a")
    put(c, "tre-em", "TE-2", "b")
    c.call(R + "Delete", {"collection": "tre-em", "id": "TE-2"})
    r = c.call(R + "GetCollection", {"collection": "tre-em"})["parameters"]["collection"]
    assert (r["defined"], r["content"], r["retention"], r["live"], r["deleted"]) == \
        (False, "bytes", "none", 1, 1)
    assert "created" not in r
    assert c.call(R + "GetCollection", {"collection": "khong-co"})["error"] == R + "CollectionNotFound"
    # Creating an implicit collection gives it settings; its records stay.
    r = c.call(R + "CreateCollection", {"collection": "tre-em", "retention": "5y"})
    assert r["parameters"]["collection"]["live"] == 1
    assert c.call(R + "Get", {"collection": "tre-em", "id": "TE-1"})["parameters"]["data"] == b64("a")


def test_list_counts_by_role(cvault):
    c = Client(cvault.sock)
    c.call(R + "CreateCollection", {"collection": "nguoi-co-cong"})
    put(c, "tre-em", "TE-1", "a")
    put(c, "hồ-sơ", "HS-1", "a")
    put(c, "hồ-sơ", "HS-2", "a")
    put(c, "bao-tro", "BT-1", "a")
    names = [x["collection"] for x in c.call(R + "ListCollections")["parameters"]["collections"]]
    assert names == sorted(["bao-tro", "hồ-sơ", "nguoi-co-cong", "tre-em"])
    svc, aud = calls_as(cvault.sock, SERVICE, [(R + "ListCollections", {})]), \
        calls_as(cvault.sock, AUDITOR, [(R + "ListCollections", {})])
    seen = {x["collection"]: x["live"] for x in svc[0]["parameters"]["collections"]}
    assert seen == {"hồ-sơ": 2, "tre-em": 1}
    assert len(aud[0]["parameters"]["collections"]) == 4
    r = calls_as(cvault.sock, SERVICE, [(R + "GetCollection", {"collection": "bao-tro"}),
                                        (R + "GetCollection", {"collection": "tre-em"}),
                                        (R + "CreateCollection", {"collection": "tre-em2"})])
    assert r[0]["error"] == R + "AccessDenied" and "error" not in r[1]
    assert r[2]["error"] == R + "AccessDenied"


NFD = unicodedata.normalize("NFD", "hồ-sơ")


def test_unicode_names_normalised_to_nfc(cvault):
    c = Client(cvault.sock)
    assert NFD != "hồ-sơ"
    rid = unicodedata.normalize("NFD", "123/QĐ-UBND-Nguyễn")
    assert put(c, NFD, rid, "x")["parameters"] == {"version": 1}
    # Either form reaches the same record, stored and audited in NFC.
    r = c.call(R + "Get", {"collection": "hồ-sơ", "id": "123/QĐ-UBND-Nguyễn"})
    assert r["parameters"]["data"] == b64("x")
    listed = c.call(R + "List", {"collection": NFD})["parameters"]["records"]
    assert [x["id"] for x in listed] == ["123/QĐ-UBND-Nguyễn"]
    line = [e for e in audit_lines(cvault.export()) if e["op"] == "records.put"][-1]
    assert (line["collection"], line["id"]) == ("hồ-sơ", "123/QĐ-UBND-Nguyễn")
    # The service granted "hồ-sơ" (NFC in the policy) may use the NFD spelling.
    r = calls_as(cvault.sock, SERVICE, [(R + "Get", {"collection": NFD, "id": rid})])
    assert r[0]["parameters"]["data"] == b64("x")


@pytest.mark.parametrize("coll,rid,why", [
    ("ok", "a\x1bb", "control"),
    ("ok", "a\u202eb", "format"),
    ("ok", "a b", "space"),
    ("ok", "-a", "start with a letter or a digit"),
    ("ok", "/a", "start with a letter or a digit"),
    ("ok", "a\ue000", "private-use"),
    ("ok", "ằ" * 43, "129 bytes"),
    ("Hồ-sơ", "a", "upper-case"),
    ("a,b", "a", "not allowed"),
    ("a*", "a", "not allowed"),
    ("ả" * 22, "a", "66 bytes"),
])
def test_bad_names_refused_with_reason(cvault, coll, rid, why):
    c = Client(cvault.sock)
    r = put(c, coll, rid, "x")
    assert r["error"] == R + "InvalidParameter", r
    assert why in r["parameters"]["reason"], r


def test_longest_names_in_bytes(cvault):
    c = Client(cvault.sock)
    coll, rid = "ả" * 21 + "a", "ằ" * 42 + "ab"  # 64 and 128 bytes of UTF-8
    assert len(coll.encode()) == 64 and len(rid.encode()) == 128
    assert put(c, coll, rid, "x")["parameters"] == {"version": 1}


def test_vaultctl_collections_and_unicode_outputs(cvault):
    v = cvault
    r = v.ctl("collection", "create", "người-có-công", "--retention", "10y", "--content", "json",
              "--index", "so_cccd")
    assert r.returncode == 0, r.stderr
    assert "content:    json" in r.stdout_text and "10y" in r.stdout_text
    assert v.ctl("put", "người-có-công", "123/QĐ-UBND", "-", input=b'{"ho_ten": "A"}').returncode == 0
    r = v.ctl("put", "người-có-công", "124/QĐ-UBND", "-", input=b'{"ho_ten": }')
    assert r.returncode == 1 and "InvalidContent" in r.stderr and "line=1" in r.stderr, r.stderr
    v.ctl("put", "tre-em", "TE-1", "-", input=b"x", check=True)
    r = v.ctl("collection", "list", check=True)
    rows = r.stdout_text.splitlines()
    assert rows[0].startswith("COLLECTION ")
    # Columns line up by what the terminal shows, not by bytes.
    assert rows[1].index("json") == rows[2].index("bytes") == rows[0].index("CONTENT")
    assert "(implicit)" in rows[2]
    r = v.ctl("collection", "set", "người-có-công", "--retention", "15y", json_out=True, check=True)
    assert r.json["collection"]["retention"] == "15y"
    r = v.ctl("list", "người-có-công", check=True)
    assert "123/QĐ-UBND" in r.stdout_text
    # The ids in the evidence: JSON Lines (UTF-8, JSON-escaped) and CSV.
    lines = [e for e in audit_lines(v.export()) if e.get("id") == "123/QĐ-UBND"]
    assert lines and lines[0]["collection"] == "người-có-công"
    csv = v.ctl("audit", "export", "--format", "csv", check=True).stdout.decode()
    assert ",người-có-công,123/QĐ-UBND," in csv
    r = v.ctl("collection", "show", "khong-co")
    assert r.returncode == 1 and "CollectionNotFound" in r.stderr


def counts(c, coll):
    col = c.call(R + "GetCollection", {"collection": coll})["parameters"]["collection"]
    return col["live"], col["deleted"], col["disposed"], col["held"]


def test_counts_are_kept_as_records_change_not_walked(cvault):
    """A collection's counts are kept as its records change (issue #12: no
    call walks a collection's records in the writer, stalling everyone
    else); a store without them is counted once, then keeps them."""
    from test_metadata import Store

    c = Client(cvault.sock)
    for i in range(3):
        put(c, "dem", "D-%d" % i, "a")
    assert "error" not in c.call(R + "Delete", {"collection": "dem", "id": "D-0"})
    assert "error" not in c.call(R + "SetHold", {"collection": "dem", "id": "D-1", "hold": True,
                                                 "reason": "thanh tra"})
    assert counts(c, "dem") == (2, 1, 0, 1)
    put(c, "dem", "D-0", "again")  # a deleted record put again is live again
    put(c, "dem", "D-1", "v2")  # a new version of a live one changes nothing
    assert counts(c, "dem") == (3, 0, 0, 1)
    key = b"\x01" + "dem".encode()
    cvault.stop()
    s = Store(cvault)
    table = s.table("collections")
    assert [int.from_bytes(table[key][i:i + 8], "big") for i in range(0, 32, 8)] == [3, 0, 0, 1]
    table[key] = b"".join(n.to_bytes(8, "big") for n in (41, 42, 43, 44))  # what Get must trust
    s.save()
    cvault.start()
    c = Client(cvault.sock)
    assert counts(c, "dem") == (41, 42, 43, 44)
    put(c, "dem", "D-9", "a")
    assert counts(c, "dem") == (42, 42, 43, 44)
    names = [x["collection"] for x in c.call(R + "ListCollections")["parameters"]["collections"]]
    assert names == ["dem"]  # the counts' key is no collection
    cvault.stop()
    s = Store(cvault)
    del s.table("collections")[key]  # as a store from before counts were kept
    s.save()
    cvault.start()
    c = Client(cvault.sock)
    assert counts(c, "dem") == (4, 0, 0, 1)
