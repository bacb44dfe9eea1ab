"""Collection names that are themselves personal data (issue #13): a
collection created with private_name is stored, counted, keyed and audited
under its pseudonym (pc- and 32 hex digits); callers keep using the name
and are answered in it; the name's bytes are nowhere in data.mdb, a backup,
an export or a report; an auditor resolves a pseudonym to its name on
request."""
import json
import os
import re

from conftest import copies_at_rest, store_after_stop, NOBODY, Client, Vault, audit_lines, b64, calls_as, ok, put

R = "io.vaultd.records."
A = "io.vaultd.audit."
NAME = "trẻ-em/hiv-2026"
SECRETS = [NAME, "hiv-2026", "trẻ-em"]
PC = re.compile(r"^pc-[0-9a-f]{32}$")
SERVICE = 4242


def assert_nowhere(data, what):
    for s in SECRETS:
        assert s.encode() not in data, "%s holds %r" % (what, s)


def test_private_name_round_trip_and_nowhere_on_disk(vault):
    c = Client(vault.sock)
    col = ok(c.call(R + "CreateCollection", {"collection": NAME, "private_name": True, "private_ids": True,
                                             "index": ["ma_ho"], "content": "json"}))["collection"]
    assert col["collection"] == NAME and col["private_name"] is True and PC.match(col["stored_as"])
    pc = col["stored_as"]
    ok(put(c, NAME, "HS-1", '{"ma_ho": "H-1"}'))
    ok(put(c, NAME, "HS-2", '{"ma_ho": "H-1"}'))
    ok(put(c, NAME, "HS-1", '{"ma_ho": "H-2"}'))
    assert ok(c.call(R + "Get", {"collection": NAME, "id": "HS-1"}))["version"] == 2
    assert sorted(r["id"] for r in ok(c.call(R + "List", {"collection": NAME}))["records"]) == ["HS-1", "HS-2"]
    assert ok(c.call(R + "Find", {"collection": NAME, "field": "ma_ho", "value": "H-1"}))["ids"] == ["HS-2"]
    assert len(ok(c.call(R + "History", {"collection": NAME, "id": "HS-1"}))["versions"]) == 2
    ok(c.call(R + "Delete", {"collection": NAME, "id": "HS-2"}))
    # Errors name the collection as the caller did.
    r = c.call(R + "Get", {"collection": NAME, "id": "HS-9"})
    assert r["error"] == R + "NotFound" and r["parameters"]["collection"] == NAME
    r = put(c, NAME, "HS-3", "not json")
    assert r["error"] == R + "InvalidContent", r
    r = c.call(R + "CreateCollection", {"collection": NAME})
    assert r["error"] == R + "CollectionExists" and r["parameters"]["collection"] == NAME
    got = ok(c.call(R + "GetCollection", {"collection": NAME}))["collection"]
    assert (got["collection"], got["live"], got["deleted"], got["stored_as"]) == (NAME, 1, 1, pc)
    listed = ok(c.call(R + "ListCollections", {}))["collections"]
    assert [x["collection"] for x in listed] == [NAME] and listed[0]["private_name"] is True
    r = vault.ctl("collection", "list", check=True)
    assert NAME in r.stdout_text and "(private name)" in r.stdout_text
    r = vault.ctl("collection", "show", NAME, check=True)
    assert pc in r.stdout_text and "private" in r.stdout_text

    # The trail names the pseudonym only, the same on every line.
    export = vault.export()
    named = {x["collection"] for x in audit_lines(export) if "collection" in x}
    assert named == {pc}, named
    create = [x for x in audit_lines(export) if x["op"] == "records.create-collection"][0]
    assert create["settings"]["private_name"] is True
    for what, data in copies_at_rest(vault):
        assert_nowhere(data, what)
    vault.ctl("audit", "verify", check=True)

    # An auditor resolves the pseudonym to the name (audited, without it),
    # and a record pseudonym within it.
    assert ok(c.call(A + "Resolve", {"collection": pc, "reason": "thanh tra"}))["name"] == NAME
    assert vault.ctl("audit", "resolve", pc, "--reason", "thanh tra", check=True).stdout_text == NAME + "\n"
    ps = [x["id"] for x in audit_lines(export) if x["op"] == "records.put" and x["result"] == "ok"][0]
    assert ok(c.call(A + "Resolve", {"collection": pc, "pseudonym": ps, "reason": "thanh tra"}))["id"] == "HS-1"
    assert ok(c.call(A + "Resolve", {"collection": NAME, "pseudonym": ps, "reason": "thanh tra"}))["id"] == "HS-1"
    # A record's proof, asked by the names a service uses or by the
    # pseudonyms an auditor reads, holds the lines that wrote it.
    for coll, rid in ((NAME, "HS-1"), (pc, ps)):
        proof = ok(c.call(A + "Prove", {"collection": coll, "id": rid}))
        lines = [json.loads(e["line"]) for e in proof["lines"]]
        assert [(x["collection"], x["id"], x["version"]) for x in lines] == [(pc, ps, 1), (pc, ps, 2)], lines
    r = c.call(A + "Resolve", {"collection": "pc-" + "0" * 32, "reason": "thanh tra"})
    assert r["error"] == A + "InvalidParameter" and "reserved" in r["parameters"]["reason"]
    ok(c.call(R + "CreateCollection", {"collection": "cong-khai"}))
    r = c.call(A + "Resolve", {"collection": "cong-khai", "reason": "thanh tra"})
    assert r["error"] == A + "InvalidParameter" and r["parameters"]["parameter"] == "pseudonym"
    export = vault.export()
    resolves = [x for x in audit_lines(export) if x["op"] == "audit.resolve"]
    assert resolves[0]["collection"] == pc
    assert_nowhere(export, "the export after resolve")

    c.close()
    assert_nowhere(store_after_stop(vault), "data.mdb")
    # After a restart (nothing mapped yet), the name reaches the same
    # collection.
    vault.start()
    c = Client(vault.sock)
    assert ok(c.call(R + "Get", {"collection": NAME, "id": "HS-1"}))["data"] == b64('{"ma_ho": "H-2"}')
    assert [x["collection"] for x in ok(c.call(R + "ListCollections", {}))["collections"]] == \
        ["cong-khai", NAME]


def test_refusals(vault):
    c = Client(vault.sock)
    ok(put(c, "da-co", "A-1", "x"))
    r = c.call(R + "CreateCollection", {"collection": "da-co", "private_name": True})
    assert r["error"] == R + "InvalidParameter" and r["parameters"]["parameter"] == "private_name"
    ok(c.call(R + "CreateCollection", {"collection": "rieng", "private_name": True}))
    r = c.call(R + "SetCollection", {"collection": "rieng", "private_name": False})
    assert r["error"] == R + "InvalidParameter" and r["parameters"]["parameter"] == "private_name"
    r = c.call(R + "CreateCollection", {"collection": "khac", "private_name": "yes"})
    assert r["error"] == R + "InvalidParameter" and r["parameters"]["parameter"] == "private_name"
    # Names of a pseudonym's form are reserved, in any call.
    for method, params in ((R + "Put", {"collection": "pc-" + "ab" * 16, "id": "x", "data": b64("x")}),
                           (R + "CreateCollection", {"collection": "pc-" + "0" * 32})):
        r = c.call(method, params)
        assert r["error"] == R + "InvalidParameter" and "reserved" in r["parameters"]["reason"], r
    # An implicit Put under the name goes into the private collection.
    ok(put(c, "rieng", "R-1", "x"))
    col = ok(c.call(R + "GetCollection", {"collection": "rieng"}))["collection"]
    assert col["live"] == 1 and col["private_name"] is True
    # Given by its pseudonym (an admin who read it in the trail), the
    # collection answers too.
    assert ok(c.call(R + "Due", {"collection": col["stored_as"]}))["records"] == []
    # The names key moves with the KEKs: after a rotation, a rewrap and
    # the old KEK's retirement, and a restart, the name still maps.
    ok(c.call("io.vaultd.admin.RotateKey", {}))
    while not ok(c.call("io.vaultd.admin.Rewrap", {}))["done"]:
        pass
    ok(c.call("io.vaultd.admin.RetireKey", {"version": 1}))
    c.close()
    vault.stop()
    vault.start()
    c = Client(vault.sock)
    assert ok(c.call(R + "Get", {"collection": "rieng", "id": "R-1"}))["data"] == b64("x")
    assert ok(c.call(A + "Resolve", {"collection": col["stored_as"], "reason": "thanh tra"}))["name"] == "rieng"


POLICY = """\
allow user root role admin,auditor
allow user %d role service collections %s
""" % (SERVICE, NAME)


def test_policy_grants_by_name_and_denials_name_the_pseudonym(vault_dir):
    v = Vault(vault_dir, policy=POLICY)
    v.start()
    try:
        c = Client(v.sock)
        pc = ok(c.call(R + "CreateCollection", {"collection": NAME, "private_name": True}))["collection"][
            "stored_as"]
        ok(c.call(R + "CreateCollection", {"collection": "khac"}))
        got = calls_as(v.sock, SERVICE, [
            [R + "Put", {"collection": NAME, "id": "A-1", "data": b64("x")}],
            [R + "ListCollections", {}],
            [R + "Get", {"collection": pc, "id": "A-1"}],
            [R + "Get", {"collection": "khac", "id": "A-1"}],
        ])
        assert got[0]["parameters"]["version"] == 1, got
        assert [x["collection"] for x in got[1]["parameters"]["collections"]] == [NAME]
        # Its pseudonym is no name the policy grants.
        assert got[2]["error"] == R + "AccessDenied" and got[3]["error"] == R + "AccessDenied"
        # A user with no role is denied, summarised: the summary names the
        # pseudonym.
        nobody = calls_as(v.sock, NOBODY, [[R + "Get", {"collection": NAME, "id": "A-1"}]])
        assert nobody[0]["error"] == R + "AccessDenied"
        # A policy change: its diff in the trail names the pseudonym too.
        v.write_policy(POLICY + "allow user %d role service collections khac,%s\n" % (SERVICE + 1, NAME))
        v.ctl("policy", "reload", check=True)
        lines = audit_lines(v.export())
        denied = [x for x in lines if x["result"] == "denied"]
        assert {x.get("collection") for x in denied if "count" not in x} == {pc, "khac"}
        summary = [x for x in lines if "count" in x and x["result"] == "denied"]
        assert summary and summary[-1]["collections"] == [pc], summary
        reload = [x for x in lines if x["op"] == "admin.reload-policy"][-1]
        assert reload["added"] == ["allow user %d role service collections khac,%s" % (SERVICE + 1, pc)]
        assert_nowhere(json.dumps(lines, ensure_ascii=False).encode(), "the trail")
    finally:
        assert v.stop() in (0, None), v.read_log()


def test_sealed_vault_tells_private_names_apart_only_once_unsealed(vault_dir):
    passfile = os.path.join(vault_dir, "pass")
    with open(passfile, "w") as f:
        f.write("một câu mật khẩu đủ dài\n")
    v = Vault(vault_dir, key_args=["--passphrase-file", passfile])
    v.start()
    try:
        v.ctl("unseal", "--passphrase-file", passfile, check=True)
        c = Client(v.sock)
        pc = ok(c.call(R + "CreateCollection", {"collection": NAME, "private_name": True}))["collection"][
            "stored_as"]
        ok(c.call(R + "CreateCollection", {"collection": "cong-khai"}))
        ok(put(c, NAME, "A-1", "x"))
        c.close()
        v.stop()
        v.start()  # sealed, nothing mapped since start
        c = Client(v.sock)
        for method, params in ((R + "GetCollection", {"collection": NAME}),
                               (R + "CreateCollection", {"collection": NAME}),
                               (R + "Put", {"collection": NAME, "id": "A-2", "data": b64("y")})):
            assert c.call(method, params)["error"] == R + "Sealed", method
        # A collection in the clear answers; a private one is listed by its
        # pseudonym until the vault is unsealed.
        assert ok(c.call(R + "GetCollection", {"collection": "cong-khai"}))["collection"]["defined"]
        listed = [x["collection"] for x in ok(c.call(R + "ListCollections", {}))["collections"]]
        assert sorted(listed) == sorted(["cong-khai", pc])
        nobody = calls_as(v.sock, NOBODY, [[R + "Get", {"collection": NAME, "id": "A-1"}]])
        assert nobody[0]["error"] == R + "AccessDenied"
        v.ctl("unseal", "--passphrase-file", passfile, check=True)
        assert ok(c.call(R + "Get", {"collection": NAME, "id": "A-1"}))["data"] == b64("x")
        assert NAME in [x["collection"] for x in ok(c.call(R + "ListCollections", {}))["collections"]]
        lines = audit_lines(v.export())
        summary = [x for x in lines if "count" in x and x["result"] == "denied"]
        assert summary and summary[-1]["collections"] == [] and summary[-1]["other_collections"] == 1
        denied = [x for x in lines if x["result"] == "denied" and "count" not in x]
        assert all("collection" not in x for x in denied), denied
        assert_nowhere(json.dumps(lines, ensure_ascii=False).encode(), "the trail")
    finally:
        assert v.stop() in (0, None), v.read_log()


def test_integrity_error_answers_the_names_status_keeps_the_pseudonyms(vault):
    from test_integrity import flip_ciphertext

    c = Client(vault.sock)
    pc = ok(c.call(R + "CreateCollection", {"collection": NAME, "private_name": True, "private_ids": True}))[
        "collection"]["stored_as"]
    ok(put(c, NAME, "CCCD-099887766554", "a" * 100))
    ps = [x["id"] for x in audit_lines(vault.export()) if x["op"] == "records.put"][0]
    c.close()
    vault.stop()
    flip_ciphertext(vault, pc, ps, 1)
    vault.start()
    c = Client(vault.sock)
    r = c.call(R + "Get", {"collection": NAME, "id": "CCCD-099887766554"})
    assert r["error"] == R + "IntegrityError", r
    assert (r["parameters"]["collection"], r["parameters"]["id"]) == (NAME, "CCCD-099887766554")
    last = ok(c.call("io.vaultd.admin.Status", {}))["integrity_last"]
    assert (last["collection"], last["id"]) == (pc, ps), last
    assert "099887766554" not in vault.read_log() and "hiv" not in vault.read_log()


def test_a_clear_collection_named_like_a_pseudonym_before_keeps_being_served(vault_dir):
    """A collection made before private names may have a name of the form
    now reserved (tests/integration/fixtures/store-pc-name): it is served,
    listed and held as before, also once the vault has a private name."""
    from conftest import vault_from_fixture

    legacy = "pc-" + "0123456789abcdef" * 2
    v = vault_from_fixture(vault_dir, "store-pc-name")
    v.start()
    try:
        c = Client(v.sock)
        ok(c.call(R + "CreateCollection", {"collection": NAME, "private_name": True}))
        ok(put(c, NAME, "N-1", "x"))
        assert ok(c.call(R + "Get", {"collection": legacy, "id": "A-1"}))["data"] == b64("before private names")
        ok(put(c, legacy, "A-2", "y"))
        names = [x["collection"] for x in ok(c.call(R + "ListCollections", {}))["collections"]]
        assert sorted(names) == sorted([legacy, "thuong", NAME])
        holds = ok(c.call(R + "ListHolds", {}))["holds"]
        assert [(h["collection"], h["id"]) for h in holds] == [(legacy, "A-1")]
        # Another name of that form, unknown, stays refused.
        r = put(c, "pc-" + "fedcba9876543210" * 2, "Z", "z")
        assert r["error"] == R + "InvalidParameter" and "reserved" in r["parameters"]["reason"]
        assert v.ctl("audit", "verify").returncode == 0
    finally:
        assert v.stop() in (0, None), v.read_log()


def test_list_holds_names_each_private_collection(vault):
    """ListHolds of every collection answers the names of private ones,
    however many holds each has (each name opened once)."""
    c = Client(vault.sock)
    names = [NAME, "người-có-công/riêng"]
    for name in names:
        ok(c.call(R + "CreateCollection", {"collection": name, "private_name": True}))
    for name in names + ["cong-khai"]:
        for i in range(3):
            ok(put(c, name, "H-%d" % i, "x"))
            ok(c.call(R + "SetHold", {"collection": name, "id": "H-%d" % i, "hold": True, "reason": "thanh tra"}))
    holds = ok(c.call(R + "ListHolds", {}))["holds"]
    assert sorted((h["collection"], h["id"]) for h in holds) == \
        sorted((name, "H-%d" % i) for name in names + ["cong-khai"] for i in range(3))
