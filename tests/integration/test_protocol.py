"""The varlink envelope as generic clients use it: null parameters, oneway,
upgrade, and errors exactly as their interfaces declare them."""
import base64
import json
import os

import pytest

from conftest import Client, audit_lines


def send_raw(c, obj):
    c.send(None, raw=json.dumps(obj).encode() + b"\0")


def test_null_parameters_mean_no_parameters(vault):
    # The reference Go client sends null for a method without input.
    c = Client(vault.sock)
    send_raw(c, {"method": "org.varlink.service.GetInfo", "parameters": None})
    r = c.recv()
    assert "error" not in r, r
    assert "io.vaultd.records" in r["parameters"]["interfaces"]
    send_raw(c, {"method": "io.vaultd.audit.Head", "parameters": None})
    assert "lines" in c.recv()["parameters"]


def test_oneway_protocol_errors_send_nothing(vault):
    c = Client(vault.sock)
    for call in ({"method": "io.vaultd.records.Nope"},
                 {"method": "io.vaultd.nope.Get"},
                 {"method": "io.vaultd.audit.Export"}):  # ExpectedMore
        send_raw(c, dict(call, oneway=True))
    # The next message on the connection is the answer to the next call.
    r = c.call("org.varlink.service.GetInfo")
    assert "error" not in r and "interfaces" in r["parameters"], r


def test_oneway_errors_are_answered_without_oneway(vault):
    c = Client(vault.sock)
    send_raw(c, {"method": "io.vaultd.records.Nope"})
    assert c.recv() == {"error": "org.varlink.service.MethodNotFound",
                        "parameters": {"method": "io.vaultd.records.Nope"}}
    send_raw(c, {"method": "io.vaultd.nope.Get"})
    assert c.recv() == {"error": "org.varlink.service.InterfaceNotFound",
                        "parameters": {"interface": "io.vaultd.nope"}}
    send_raw(c, {"method": "io.vaultd.audit.Export"})
    assert c.recv()["error"] == "org.varlink.service.ExpectedMore"


def test_oneway_streamed_methods_run_but_send_nothing(vault):
    vault.ctl("put", "c", "R-1", "-", input="x", check=True)
    c = Client(vault.sock)
    send_raw(c, {"method": "io.vaultd.audit.Verify", "oneway": True})
    send_raw(c, {"method": "io.vaultd.audit.Export", "more": True, "oneway": True})
    send_raw(c, {"method": "io.vaultd.records.Get", "oneway": True,
                 "parameters": {"collection": "c", "id": "R-1"}})
    r = c.call("io.vaultd.audit.Head")
    assert set(r["parameters"]) >= {"lines", "hash"}, r
    # A oneway call is still a request: each has its audit line.
    ops = [e["op"] for e in audit_lines(vault.export())]
    assert ops[-5:-1] == ["audit.verify", "audit.export", "records.get", "audit.head"], ops


def test_upgrade_is_refused(vault):
    c = Client(vault.sock)
    send_raw(c, {"method": "org.varlink.service.GetInfo", "upgrade": True})
    assert c.recv() == {"error": "org.varlink.service.InvalidParameter",
                        "parameters": {"parameter": "upgrade"}}
    # The connection stays a varlink connection.
    assert "interfaces" in c.call("org.varlink.service.GetInfo")["parameters"]


def test_malformed_envelope_names_only_the_field(vault):
    # org.varlink.service.InvalidParameter declares one field: parameter.
    cases = [(b"not json", "message"), (b'{"method":42}', "method"),
             (b'{"method":"io.vaultd.audit.Head","parameters":[]}', "parameters"),
             (b'{"method":"io.vaultd.audit.Head","more":"yes"}', "more"),
             (b'{"method":"io.vaultd.audit.Head","oneway":0}', "oneway")]
    c = Client(vault.sock)
    for raw, field in cases:
        c.send(None, raw=raw + b"\0")
        assert c.recv() == {"error": "org.varlink.service.InvalidParameter",
                            "parameters": {"parameter": field}}, raw


def test_every_error_sent_is_declared(vault):
    """Every error name the daemon sends in these calls is declared by the
    interface description it serves, with exactly the declared fields."""
    c = Client(vault.sock)
    decls = {}
    for iface in c.call("org.varlink.service.GetInfo")["parameters"]["interfaces"]:
        text = c.call("org.varlink.service.GetInterfaceDescription",
                      {"interface": iface})["parameters"]["description"]
        for line in text.splitlines():
            if line.startswith("error "):
                name, _, fields = line[6:].partition(" ")
                names = {f.split(":")[0].strip() for f in fields.strip("() ").split(",") if f.strip()}
                decls[iface + "." + name] = names
    calls = [("io.vaultd.records.Get", {"collection": "c", "id": "none"}),
             ("io.vaultd.records.Put", {"collection": "c", "id": "R-1", "data": "", "if_version": 7}),
             ("io.vaultd.records.Put", {"collection": "c"}),
             ("io.vaultd.records.Put", {"collection": "c", "id": "R-2", "data": "!!"}),
             ("io.vaultd.audit.Export", {"from_seq": "x"}),
             ("io.vaultd.admin.Nope", {}),
             ("org.varlink.service.GetInterfaceDescription", {"interface": "x.y"}),
             ("org.varlink.service.GetInterfaceDescription", {})]
    seen = set()
    for method, params in calls:
        r = c.call(method, params)
        assert "error" in r, (method, r)
        assert r["error"] in decls, r
        optional = {"version"}  # declared ?int in NotFound
        assert set(r["parameters"]) <= decls[r["error"]], r
        assert decls[r["error"]] - optional <= set(r["parameters"]), r
        seen.add(r["error"])
    assert len(seen) >= 6, seen


@pytest.mark.parametrize("data", ["QR==", "QUJD=", "Q===", "QUJ", "\u0080Q=", "QU JD", "QUJD\n"])
def test_body_that_is_not_canonical_base64_is_refused(vault, data):
    """Put's data is standard base64 with padding and nothing else: bits past
    the end, stray padding, bytes outside ASCII (libsodium, used before,
    read some as digits) and white space are refused."""
    c = Client(vault.sock)
    r = c.call("io.vaultd.records.Put", {"collection": "c", "id": "B64", "data": data})
    assert r["error"] == "io.vaultd.records.InvalidParameter" and r["parameters"]["parameter"] == "data", r
    assert c.call("io.vaultd.records.Get", {"collection": "c", "id": "B64"})["error"] == "io.vaultd.records.NotFound"


def test_body_round_trips_at_every_length_near_a_block(vault):
    c = Client(vault.sock)
    for n in (0, 1, 2, 3, 3071, 3072, 3073, 3074, 3075, 6144, 100000):
        body = os.urandom(n)
        assert "error" not in c.call("io.vaultd.records.Put", {"collection": "c", "id": "L-%d" % n,
                                                               "data": base64.b64encode(body).decode()})
        got = c.call("io.vaultd.records.Get", {"collection": "c", "id": "L-%d" % n})["parameters"]
        assert base64.b64decode(got["data"], validate=True) == body and got["size"] == n
