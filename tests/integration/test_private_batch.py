"""Private ids in group-commit batches (issue #13): the writer has the keeper
map all of a batch's ids in one collection at once and fetches their data
keys under the pseudonyms before the jobs run. Pipelined bursts that fill
batches with calls on private ids (the same id twice, new ids, ids of a
collection made private by the same burst, a collection whose name is
private too, clear calls between them) are each answered as one call alone
would be, and the trail names pseudonyms only."""
import base64
import json
import os
import re

from conftest import copies_at_rest, Client, audit_lines, b64, ok

R = "io.vaultd.records."
A = "io.vaultd.audit."
PSEUDONYM = re.compile(r"^ps-[0-9a-f]{32}$")
OLD = ["CCCD-0%011d" % (90000000000 + i) for i in range(6)]  # stored before the bursts
NEW = ["HS/0370%08d" % i for i in range(6)]  # first written by a burst
TWICE = "Nguyễn-Thị-B-004411223344"
SECRETS = [s.split("-")[-1] for s in OLD] + [s.split("/")[-1] for s in NEW] + ["004411223344", "Nguyễn-Thị-B"]


def burst(c, calls):
    """Sends calls (method, parameters) in one write and returns their
    replies, in order."""
    c.send(None, raw=b"".join(json.dumps({"method": R + m, "parameters": p}).encode() + b"\0" for m, p in calls))
    return [c.recv() for _ in calls]


def put_call(coll, rid, body, **kw):
    return ("Put", dict(collection=coll, id=rid, data=b64(body), **kw))


def data_of(reply):
    return base64.b64decode(ok(reply)["data"]).decode()


def trail_ids(vault, collections):
    """The audit lines that name a record of these collections."""
    return [x for x in audit_lines(vault.export()) if x.get("collection") in collections and "id" in x]


def test_private_ids_in_pipelined_bursts(vault):
    c = Client(vault.sock)
    ok(c.call(R + "CreateCollection", {"collection": "ho-so", "private_ids": True}))
    named = ok(c.call(R + "CreateCollection", {"collection": "tre-em/2026", "private_name": True,
                                               "private_ids": True}))["collection"]["stored_as"]
    for rid in OLD:
        ok(c.call(R + "Put", {"collection": "ho-so", "id": rid, "data": b64("old " + rid)}))
        ok(c.call(R + "Put", {"collection": "tre-em/2026", "id": rid, "data": b64("named " + rid)}))

    # One burst: existing and new ids, one id written twice then read, a
    # collection created with private ids and written at once, a private
    # name, clear calls, and calls that fail.
    calls = []
    for rid in OLD:
        calls += [put_call("ho-so", rid, "v2 " + rid), ("Get", {"collection": "ho-so", "id": rid})]
    for rid in NEW:
        calls += [put_call("ho-so", rid, "new " + rid), put_call("tre-em/2026", rid, "named new " + rid)]
    calls += [put_call("ho-so", TWICE, "first"), put_call("ho-so", TWICE, "second"),
              ("Get", {"collection": "ho-so", "id": TWICE}),
              ("Get", {"collection": "ho-so", "id": TWICE, "version": 1}),
              ("History", {"collection": "ho-so", "id": TWICE})]
    create = len(calls)
    calls += [("CreateCollection", {"collection": "moi", "private_ids": True}),
              put_call("moi", TWICE, "in moi"), put_call("moi", NEW[0], "in moi 0"),
              put_call("moi", TWICE, "in moi again"), ("Get", {"collection": "moi", "id": TWICE})]
    calls += [put_call("clear", "plain-1", "clear"), ("Get", {"collection": "clear", "id": "plain-1"})]
    failing = len(calls)
    calls += [("Get", {"collection": "ho-so", "id": "CCCD-000000000000"}),
              put_call("ho-so", OLD[0], "conflict", if_version=1),
              ("Delete", {"collection": "ho-so", "id": OLD[1]}),
              ("Get", {"collection": "ho-so", "id": OLD[1]}),
              ("Get", {"collection": "tre-em/2026", "id": OLD[2]})]
    replies = burst(c, calls)
    it = iter(replies)
    for rid in OLD:
        assert ok(next(it))["version"] == 2
        assert data_of(next(it)) == "v2 " + rid
    for rid in NEW:
        assert ok(next(it))["version"] == 1
        assert ok(next(it))["version"] == 1
    assert ok(next(it))["version"] == 1
    assert ok(next(it))["version"] == 2
    assert data_of(next(it)) == "second"
    assert data_of(next(it)) == "first"
    assert len(ok(next(it))["versions"]) == 2
    ok(next(it))
    assert [ok(next(it))["version"] for _ in range(3)] == [1, 1, 2]
    assert data_of(next(it)) == "in moi again"
    assert ok(next(it))["version"] == 1
    assert data_of(next(it)) == "clear"
    r = next(it)
    assert r["error"] == R + "NotFound" and r["parameters"]["id"] == "CCCD-000000000000", r
    r = next(it)
    assert r["error"] == R + "Conflict" and r["parameters"]["id"] == OLD[0], r
    ok(next(it))
    r = next(it)
    assert r["error"] == R + "NotFound" and r["parameters"]["id"] == OLD[1], r
    assert data_of(next(it)) == "named " + OLD[2]

    # The same burst again (every record there now): versions move on by
    # one (the deleted record's by two), and the collection exists already.
    replies = burst(c, calls)
    assert [i for i, r in enumerate(replies) if "error" in r] == [create, failing, failing + 1, failing + 3]
    assert [replies[2 * i]["parameters"]["version"] for i in range(len(OLD))] == [3, 4, 3, 3, 3, 3]
    assert [r["parameters"]["version"] for r in replies[2 * len(OLD):create - 5]] == [2] * (2 * len(NEW))
    assert [r["parameters"]["version"] for r in replies[create + 1:create + 4]] == [3, 2, 4]

    # Several clients at once, into the same records.
    clients = [Client(vault.sock) for _ in range(4)]
    for n, cl in enumerate(clients):
        cl.send(None, raw=b"".join(
            json.dumps({"method": R + "Put", "parameters": {"collection": "ho-so", "id": rid,
                                                             "data": b64("client %d %s" % (n, rid))}}).encode()
            + b"\0" for rid in NEW))
    versions = {rid: [] for rid in NEW}
    for cl in clients:
        for rid in NEW:
            versions[rid].append(ok(cl.recv())["version"])
        cl.close()
    for rid in NEW:
        assert sorted(versions[rid]) == [3, 4, 5, 6], versions
        got = ok(c.call(R + "Get", {"collection": "ho-so", "id": rid}))
        assert got["version"] == 6 and base64.b64decode(got["data"]).decode().endswith(rid)

    # Services see their ids; the trail and the store hold pseudonyms only,
    # one per record.
    listed = {r["id"] for r in ok(c.call(R + "List", {"collection": "ho-so"}))["records"]}
    assert listed == set(OLD + NEW + [TWICE]) - {OLD[1]}
    assert {r["id"] for r in ok(c.call(R + "List", {"collection": "moi"}))["records"]} == {TWICE, NEW[0]}
    lines = trail_ids(vault, {"ho-so", "moi", named})
    assert lines and all(PSEUDONYM.match(x["id"]) for x in lines), [x["id"] for x in lines if not PSEUDONYM.match(x["id"])]
    puts = {}
    for x in lines:
        if x["op"] == "records.put" and x["result"] == "ok":
            puts.setdefault(x["collection"], set()).add(x["id"])
    assert len(puts["ho-so"]) == len(OLD) + len(NEW) + 1
    assert len(puts["moi"]) == 2 and len(puts[named]) == len(OLD) + len(NEW)
    assert puts["moi"] & puts["ho-so"] == set()  # another collection, another key
    assert {ok(c.call(A + "Resolve", {"collection": "moi", "pseudonym": ps, "reason": "kiểm tra"}))["id"] for ps in puts["moi"]} == \
        {TWICE, NEW[0]}
    export = vault.export()
    for s in SECRETS:
        assert s.encode() not in export, s
    c.close()
    for what, data in copies_at_rest(vault):
        for s in SECRETS:
            assert s.encode() not in data, "%s holds %r" % (what, s)
