"""Ids that are themselves personal data (issue #13, stage 4): a collection
with private ids stores, indexes and audits keyed pseudonyms; services keep
using the real ids; the id's bytes are nowhere in data.mdb, a backup, an
export or a report; an auditor resolves one pseudonym on request."""
import base64
import re

from conftest import copies_at_rest, store_after_stop, Client, audit_lines, b64, ok, put

R = "io.vaultd.records."
A = "io.vaultd.audit."
IDS = ["CCCD-099887766554", "Nguyễn-Văn-A-001199000777", "HS/037090001234"]
SECRETS = ["099887766554", "001199000777", "037090001234", "Nguyễn-Văn-A"]
PSEUDONYM = re.compile(r"^ps-[0-9a-f]{32}$")


def assert_nowhere(data, what):
    for s in SECRETS:
        for enc in (s.encode(), s.encode("utf-16-le")):
            assert enc not in data, "%s holds %r" % (what, s)


def test_private_ids_round_trip_and_nowhere_on_disk(vault):
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "bao-tro", "private_ids": True, "index": ["ma_ho"]}))
    for i, rid in enumerate(IDS):
        assert ok(put(c, "bao-tro", rid, "body %d" % i, index={"ma_ho": "H-1"}))["version"] == 1
    assert ok(put(c, "bao-tro", IDS[0], "second"))["version"] == 2
    # Services use the real ids, and are answered in them.
    got = ok(c.call(R + "Get", {"collection": "bao-tro", "id": IDS[0]}))
    assert base64.b64decode(got["data"]) == b"second" and got["version"] == 2
    assert ok(c.call(R + "Get", {"collection": "bao-tro", "id": IDS[0], "version": 1}))["data"] == b64("body 0")
    assert len(ok(c.call(R + "History", {"collection": "bao-tro", "id": IDS[0]}))["versions"]) == 2
    listed = ok(c.call(R + "List", {"collection": "bao-tro"}))["records"]
    assert sorted(r["id"] for r in listed) == sorted(IDS)
    page = ok(c.call(R + "List", {"collection": "bao-tro", "limit": 2}))
    rest = ok(c.call(R + "List", {"collection": "bao-tro", "after": page["next"]}))
    assert sorted([r["id"] for r in page["records"]] + [r["id"] for r in rest["records"]]) == sorted(IDS)
    assert sorted(ok(c.call(R + "Find", {"collection": "bao-tro", "field": "ma_ho", "value": "H-1"}))["ids"]) == \
        sorted(IDS[1:])
    r = c.call(R + "Get", {"collection": "bao-tro", "id": "CCCD-000000000000"})
    assert r["error"] == R + "NotFound" and r["parameters"]["id"] == "CCCD-000000000000"
    r = put(c, "bao-tro", IDS[1], "x", if_version=7)
    assert r["error"] == R + "Conflict" and r["parameters"]["id"] == IDS[1]
    ok(c.call(R + "Delete", {"collection": "bao-tro", "id": IDS[2]}))
    assert sorted(r["id"] for r in ok(c.call(R + "List", {"collection": "bao-tro"}))["records"]) == \
        sorted(IDS[:2])

    # The trail carries pseudonyms, the same one for every call on a record.
    export = vault.export()
    lines = [x for x in audit_lines(export) if x.get("collection") == "bao-tro" and "id" in x]
    assert lines and all(PSEUDONYM.match(x["id"]) for x in lines), lines
    puts = [x["id"] for x in lines if x["op"] == "records.put" and x["result"] == "ok"]
    assert len(set(puts)) == 3 and puts[0] == puts[3]
    for what, data in copies_at_rest(vault):
        assert_nowhere(data, what)

    # An auditor resolves one pseudonym, and that call is audited without
    # the id.
    assert ok(c.call(A + "Resolve", {"collection": "bao-tro", "pseudonym": puts[0], "reason": "thanh tra"}))["id"] == IDS[0]
    r = vault.ctl("audit", "resolve", "bao-tro", puts[1], "--reason", "thanh tra", check=True)
    assert r.stdout_text == IDS[1] + "\n"
    r = c.call(A + "Resolve", {"collection": "bao-tro", "pseudonym": "ps-" + "0" * 32, "reason": "thanh tra"})
    assert r["error"] == A + "NotFound"
    r = c.call(A + "Resolve", {"collection": "bao-tro", "pseudonym": IDS[0], "reason": "thanh tra"})
    assert r["error"] == A + "InvalidParameter" and r["parameters"]["parameter"] == "pseudonym"
    # Resolving needs a reason, which the trail keeps.
    r = c.call(A + "Resolve", {"collection": "bao-tro", "pseudonym": puts[0]})
    assert r["error"] == A + "InvalidParameter" and r["parameters"]["parameter"] == "reason"
    r = vault.ctl("audit", "resolve", "bao-tro", puts[1])
    assert r.returncode == 2 and "--reason" in r.stderr
    export = vault.export()
    resolves = [x for x in audit_lines(export) if x["op"] == "audit.resolve"]
    assert [x["id"] for x in resolves[:2]] == puts[:2]
    assert [x["reason"] for x in resolves[:2]] == ["thanh tra"] * 2
    assert_nowhere(export, "the export after resolve")

    c.close()
    assert_nowhere(store_after_stop(vault), "data.mdb")
    # The pseudonym key survives a restart: the same ids reach the same
    # records.
    vault.start()
    c = Client(vault.sock)
    assert ok(c.call(R + "Get", {"collection": "bao-tro", "id": IDS[1]}))["data"] == b64("body 1")


def test_admin_methods_take_pseudonyms_and_denied_lines_hide_ids(vault):
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "ho-so", "private_ids": True}))
    ok(put(c, "ho-so", IDS[0], "x", retain_until="2000-01-01"))
    due = ok(c.call(R + "Due", {"collection": "ho-so"}))["records"]
    assert len(due) == 1 and PSEUDONYM.match(due[0]["id"])
    # Hold by the real id, dispose by the pseudonym Due showed.
    ok(c.call(R + "SetHold", {"collection": "ho-so", "id": IDS[0], "hold": True, "reason": "thanh tra"}))
    holds = ok(c.call(R + "ListHolds", {}))["holds"]
    assert [h["id"] for h in holds] == [due[0]["id"]]
    ok(c.call(R + "SetHold", {"collection": "ho-so", "id": due[0]["id"], "hold": False, "reason": "xong"}))
    ok(c.call(R + "Dispose", {"collection": "ho-so", "id": due[0]["id"], "reason": "hết hạn"}))
    r = c.call(R + "Get", {"collection": "ho-so", "id": IDS[0]})
    assert r["error"] == R + "Disposed" and r["parameters"]["id"] == IDS[0]
    # A call denied for a collection with private ids names no id.
    vault.write_policy("allow user root role admin,auditor\nallow user root role service collections other\n")
    vault.ctl("policy", "reload", check=True)
    r = c.call(R + "Get", {"collection": "ho-so", "id": IDS[1]})
    assert r["error"] == R + "AccessDenied"
    denied = [x for x in audit_lines(vault.export()) if x["result"] == "denied"]
    assert denied and "id" not in denied[-1] and denied[-1]["collection"] == "ho-so"


def test_private_ids_only_while_empty_and_put_warning(vault):
    c = Client(vault.sock)
    ok(put(c, "tam", "T-1", "x"))
    r = c.call(R + "CreateCollection", {"collection": "tam", "private_ids": True})
    assert r["error"] == R + "InvalidParameter" and r["parameters"]["parameter"] == "private_ids"
    ok(c.call(R + "CreateCollection", {"collection": "rieng", "private_ids": True}))
    ok(put(c, "rieng", "R-1", "x"))
    r = c.call(R + "SetCollection", {"collection": "rieng", "private_ids": False})
    assert r["error"] == R + "InvalidParameter"
    col = ok(c.call(R + "GetCollection", {"collection": "rieng"}))["collection"]
    assert col["private_ids"] is True
    r = vault.ctl("collection", "show", "rieng", check=True)
    assert "pseudonyms" in r.stdout_text
    # vaultctl put warns of a citizen ID in a collection that keeps ids in
    # the clear, and only then.
    r = vault.ctl("put", "tam", "CCCD-099887766554", "-", input="x", check=True)
    assert "looks like a citizen ID" in r.stderr
    r = vault.ctl("put", "rieng", "CCCD-099887766554", "-", input="x", check=True)
    assert "citizen ID" not in r.stderr
    for rid in ("NB-2024-000123", "0998877665541"):
        r = vault.ctl("put", "tam", rid, "-", input="x", check=True)
        assert "citizen ID" not in r.stderr
