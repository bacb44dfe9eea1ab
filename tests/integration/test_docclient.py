"""Tests of vaultd through docclient, a client written only from the docs.

Each test states a behaviour that docs/protocol.md, docs/audit-format.md or
docs/*.varlink promise, and checks it against the real daemon.
"""
import base64
import hashlib
import json
import os
import socket

import pytest

import docclient
from docclient import Connection, ExportError, VarlinkError

DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs")
INTERFACES = ["org.varlink.service", "io.vaultd.records", "io.vaultd.audit", "io.vaultd.admin"]
VIETNAMESE = "Nguyễn Văn Ánh, Bà mẹ Việt Nam anh hùng — hồ sơ người có công, Hà Nội, Đà Nẵng".encode()


@pytest.fixture
def conn(vault):
    c = Connection(vault.sock)
    yield c
    c.close()


def raises(error, fn, *args, **kwargs):
    """Call fn, expect the error reply `error`; return its parameters."""
    with pytest.raises(VarlinkError) as info:
        fn(*args, **kwargs)
    assert info.value.error == error, info.value
    return info.value.parameters


def export_raw_lines(export_bytes):
    """The lines of an export file (bytes, without their newlines)."""
    assert export_bytes.endswith(b"\n")
    return export_bytes[:-1].split(b"\n")


def audit_entries(export_bytes):
    return docclient.verify_export_chain(export_bytes).lines


# -- framing --------------------------------------------------------------


def test_reader_keeps_bytes_after_nul_and_joins_split_messages():
    """Several messages in one recv(), and one message over many recv()s."""
    server, client = socket.socketpair()
    client.settimeout(5)
    with server:
        conn = Connection.from_socket(client, recv_size=4096)
        first = b'{"parameters":{"version":1}}\0{"parameters":{"version":2}}\0{"param'
        server.sendall(first)
        assert conn.reply() == {"version": 1}
        assert conn.reply() == {"version": 2}
        rest = b'eters":{"text":"' + "Việt".encode() + b'"}}\0'
        server.sendall(rest)
        assert conn.reply() == {"text": "Việt"}

        conn.recv_size = 1  # every byte its own recv()
        server.sendall(b'{"error":"io.vaultd.records.NotFound","parameters":{"id":"A"}}\0')
        params = raises("io.vaultd.records.NotFound", conn.reply)
        assert params == {"id": "A"}

        server.sendall(b'{"parameters":{"n":1},"continues":true}\0{"parameters":{"n":2}}\0')
        assert list(conn.stream()) == [{"n": 1}, {"n": 2}]
        server.close()
        with pytest.raises(ConnectionError):
            conn.receive()
    conn.close()


def test_tiny_recv_size_against_daemon(vault):
    with Connection(vault.sock, recv_size=3) as c:
        for i in range(5):
            c.send("io.vaultd.records.Put", {"collection": "tiny", "id": "t%d" % i,
                                             "data": base64.b64encode(b"x" * i).decode()})
        assert [c.reply()["version"] for _ in range(5)] == [1] * 5
        assert c.get("tiny", "t4")["data"] == b"xxxx"


# -- records --------------------------------------------------------------


def test_put_get_all_byte_values(conn):
    body = bytes(range(256))
    assert conn.put("ho-so", "BIN-1", body) == 1
    got = conn.get("ho-so", "BIN-1")
    assert got["data"] == body
    assert got["version"] == 1
    assert got["size"] == 256
    assert got["time"].endswith("Z")


def test_put_get_vietnamese_text(conn):
    assert conn.put("nguoi-co-cong", "NB-2024-000123", VIETNAMESE) == 1
    got = conn.get("nguoi-co-cong", "NB-2024-000123")
    assert got["data"].decode("utf-8") == VIETNAMESE.decode("utf-8")
    assert got["size"] == len(VIETNAMESE)


def test_versions_increment_and_old_versions_stay(conn):
    versions = [conn.put("c", "R:1", b"body %d" % n) for n in range(1, 5)]
    assert versions == [1, 2, 3, 4]
    assert conn.get("c", "R:1")["data"] == b"body 4"
    assert conn.get("c", "R:1", version=2)["data"] == b"body 2"


def test_if_version(conn):
    assert conn.put("c", "cond", b"v1", if_version=0) == 1
    params = raises("io.vaultd.records.Conflict", conn.put, "c", "cond", b"x", if_version=0)
    assert params == {"collection": "c", "id": "cond", "current": 1}
    assert conn.put("c", "cond", b"v2", if_version=1) == 2
    params = raises("io.vaultd.records.Conflict", conn.put, "c", "cond", b"x", if_version=1)
    assert params["current"] == 2
    params = raises("io.vaultd.records.Conflict", conn.delete, "c", "cond", if_version=1)
    assert params["current"] == 2
    assert conn.get("c", "cond")["data"] == b"v2"  # the conflicts wrote nothing


def test_delete_then_get(conn):
    conn.put("c", "gone", b"first")
    conn.put("c", "gone", b"second")
    assert conn.delete("c", "gone") == 3
    params = raises("io.vaultd.records.NotFound", conn.get, "c", "gone")
    assert params["collection"] == "c" and params["id"] == "gone"
    assert conn.get("c", "gone", version=1)["data"] == b"first"
    assert conn.get("c", "gone", version=2)["data"] == b"second"
    params = raises("io.vaultd.records.NotFound", conn.get, "c", "gone", version=9)
    assert params["version"] == 9
    raises("io.vaultd.records.NotFound", conn.delete, "c", "gone")


def test_history_shows_tombstone(conn):
    conn.put("c", "hist", b"12345")
    conn.put("c", "hist", b"123")
    conn.delete("c", "hist")
    h = conn.history("c", "hist")
    assert h["deleted"] is True
    assert [v["version"] for v in h["versions"]] == [1, 2, 3]
    assert [v["deleted"] for v in h["versions"]] == [False, False, True]
    assert [v["size"] for v in h["versions"]] == [5, 3, 0]
    assert all(v["uid"] == os.getuid() for v in h["versions"])


def test_list_pagination(conn):
    ids = ["id-%02d" % n for n in range(10)]
    for i in reversed(ids):  # stored out of order, listed in id order
        conn.put("paged", i, i.encode())
    conn.put("other", "id-99", b"not in this collection")

    pages, after = [], None
    while True:
        page = conn.list_page("paged", after=after, limit=3)
        pages.append([r["id"] for r in page["records"]])
        after = page.get("next")
        if after is None:
            break
    assert pages == [ids[0:3], ids[3:6], ids[6:9], ids[9:]]

    records = conn.list_all("paged", limit=3)
    assert [r["id"] for r in records] == ids
    assert all(r["version"] == 1 for r in records)

    conn.delete("paged", "id-04")
    assert [r["id"] for r in conn.list_all("paged", limit=3)] == ids[:4] + ids[5:]


def test_pipelined_puts_answered_in_order(conn):
    for n in range(1, 51):
        conn.send("io.vaultd.records.Put", {
            "collection": "pipe", "id": "P-1",
            "data": base64.b64encode(b"put %d" % n).decode()})
    assert [conn.reply()["version"] for _ in range(50)] == list(range(1, 51))
    for n in (1, 17, 33, 50):
        assert conn.get("pipe", "P-1", version=n)["data"] == b"put %d" % n


def test_oneway_call_is_executed_without_reply(conn):
    conn.send("io.vaultd.records.Put", {"collection": "ow", "id": "O-1", "data": "eA=="},
              oneway=True)
    # The next reply on the connection belongs to the next call.
    assert conn.get("ow", "O-1")["data"] == b"x"


def test_invalid_names(conn):
    params = raises("io.vaultd.records.InvalidParameter", conn.put, "Bad Name!", "A", b"x")
    assert params["parameter"] == "collection" and params["reason"]
    params = raises("io.vaultd.records.InvalidParameter", conn.put, "c", "-starts-with-dash", b"x")
    assert params["parameter"] == "id" and params["reason"]
    params = raises("io.vaultd.records.InvalidParameter", conn.put, "c", "x" * 129, b"x")
    assert params["parameter"] == "id"
    assert conn.put("c" * 64, "X" * 128, b"longest names") == 1
    params = raises("io.vaultd.records.InvalidParameter", conn.call, "io.vaultd.records.Put",
                    {"collection": "c", "id": "A", "data": "not base64!"})
    assert params["parameter"] == "data"


def test_malformed_message_keeps_connection(conn):
    conn.send_raw(b"this is not json\0")
    params = raises("org.varlink.service.InvalidParameter", conn.reply)
    assert params["parameter"] == "message"
    assert conn.status()["state"]


# -- introspection and protocol errors -----------------------------------


def test_get_info_lists_interfaces(conn):
    info = conn.get_info()
    for iface in ("io.vaultd.records", "io.vaultd.audit", "io.vaultd.admin"):
        assert iface in info["interfaces"]
    assert {"vendor", "product", "version", "url"} <= info.keys()


@pytest.mark.parametrize("interface", INTERFACES)
def test_interface_description_is_the_documented_text(conn, interface):
    text = conn.get_interface_description(interface)
    assert "interface %s\n" % interface in text
    with open(os.path.join(DOCS, interface + ".varlink"), encoding="utf-8") as f:
        assert text == f.read()


def test_unknown_method_and_interface(conn):
    params = raises("org.varlink.service.MethodNotFound", conn.call, "io.vaultd.records.Frobnicate")
    assert "Frobnicate" in params["method"]
    params = raises("org.varlink.service.InterfaceNotFound", conn.call, "io.vaultd.Nope.Get")
    assert params["interface"] == "io.vaultd.Nope"
    raises("org.varlink.service.InterfaceNotFound", conn.get_interface_description, "io.vaultd.Nope")
    assert conn.status()["state"]  # the connection is still usable


def test_export_without_more_is_expected_more(conn):
    raises("org.varlink.service.ExpectedMore", conn.call, "io.vaultd.audit.Export")


# -- audit ----------------------------------------------------------------


def test_export_stream_framing(conn):
    conn.send("io.vaultd.audit.Export", more=True)
    messages = [conn.receive()]
    while messages[-1].get("continues"):
        messages.append(conn.receive())
    assert all(m.get("continues") is True for m in messages[:-1])
    lines = [line for m in messages for line in m["parameters"]["lines"]]
    assert json.loads(lines[0])["format"] == docclient.EXPORT_FORMAT
    assert "checkpoint" in json.loads(lines[-1])
    assert all("\n" not in line for line in lines)  # lines come without newlines


def test_export_verifies_and_records_our_puts(conn):
    conn.put("audited", "A-1", b"one")
    conn.put("audited", "A-1", b"two!")
    conn.delete("audited", "A-1")
    head = conn.audit_head()

    export = conn.audit_export()
    checked = docclient.verify_export_chain(export)
    checkpoints = docclient.check_export_checkpoints(checked, verifier_key=head["verifier_key"])
    header = checked.header
    assert header["first_seq"] == 0
    assert header["prev"] == docclient.ZERO_HASH
    assert header["origin"] == head["origin"]
    assert checked.lines[0]["op"] == "vault.init"
    assert checked.lines[0]["verifier_key"] == head["verifier_key"]
    assert checkpoints[-1].size == header["last_seq"] + 1

    ours = [e for e in checked.lines if e.get("collection") == "audited"]
    assert [(e["op"], e["id"], e.get("version"), e["result"]) for e in ours] == [
        ("records.put", "A-1", 1, "ok"),
        ("records.put", "A-1", 2, "ok"),
        ("records.delete", "A-1", 3, "ok"),
    ]
    assert [e.get("size") for e in ours[:2]] == [3, 4]
    for e in ours:
        assert e["actor"]["uid"] == os.getuid()
        assert e["actor"]["pid"] == os.getpid()
        assert e["actor"]["role"] == "service"
    # The export includes the export call's own line.
    assert checked.lines[-1]["op"] == "audit.export"


def test_export_records_failures(conn):
    raises("io.vaultd.records.NotFound", conn.get, "failures", "MISSING")
    entry = [e for e in audit_entries(conn.audit_export()) if e.get("collection") == "failures"]
    assert len(entry) == 1
    assert entry[0]["op"] == "records.get"
    assert entry[0]["result"] == "error"
    assert entry[0]["error"] == "NotFound"


def test_partial_export_links_to_the_full_one(conn):
    for n in range(6):
        conn.put("part", "P", b"%d" % n)
    full = docclient.verify_export_chain(conn.audit_export())
    part_bytes = conn.audit_export(from_seq=4)
    part = docclient.verify_export_chain(part_bytes)
    docclient.check_export_checkpoints(part)
    assert part.header["first_seq"] == 4
    assert part.header["prev"] == full.hashes[3].hex()
    assert part.lines[0] == full.lines[4]


def test_head_excludes_its_own_line_and_its_checkpoint_matches(conn):
    conn.put("c", "head", b"x")
    head = conn.audit_head()
    checked = docclient.verify_export_chain(conn.audit_export())
    assert checked.hashes[head["lines"] - 1].hex() == head["hash"]
    assert checked.lines[head["lines"]]["op"] == "audit.head"

    assert head["checkpoint"], "a vault signs a checkpoint at least at every export"
    cp = docclient.parse_checkpoint(head["checkpoint"])
    assert cp.origin == head["origin"]
    # A tlog checkpoint: it names the root of the tree of its lines.
    tree = docclient.Frontier()
    for leaf in checked.leaves[:cp.size]:
        tree.append(leaf)
    assert cp.hash == tree.root() and cp.hash != checked.hashes[cp.size - 1]


def test_status_and_introspection_are_not_audited(conn):
    before = conn.audit_head()["lines"]
    conn.status()
    conn.get_info()
    conn.get_interface_description("io.vaultd.records")
    after = conn.audit_head()["lines"]
    assert after == before + 1  # only the first Head's own line


def test_verify_matches_export(conn):
    conn.put("c", "verify", b"x")
    result = conn.audit_verify()
    assert result["checkpoints"] >= 1
    checked = docclient.verify_export_chain(conn.audit_export())
    assert checked.hashes[result["lines"] - 1].hex() == result["hash"]


def test_tampered_export_fails_chain(conn):
    for n in range(5):
        conn.put("tamper", "T", b"%d" % n)
    export = conn.audit_export()
    lines = export_raw_lines(export)
    audit_count = len(docclient.verify_export_chain(export).lines)
    middle = 1 + audit_count // 2
    seq = json.loads(lines[middle])["seq"]

    # One changed digit in the time keeps the line valid JSON.
    raw = bytearray(lines[middle])
    pos = raw.index(b'"time":"') + len(b'"time":"') + 3
    raw[pos] = ord("1") if raw[pos] != ord("1") else ord("2")
    tampered = b"\n".join(lines[:middle] + [bytes(raw)] + lines[middle + 1:]) + b"\n"
    with pytest.raises(ExportError) as info:
        docclient.verify_export_chain(tampered)
    assert info.value.seq == seq + 1

    removed = b"\n".join(lines[:middle] + lines[middle + 1:]) + b"\n"
    with pytest.raises(ExportError) as info:
        docclient.verify_export_chain(removed)
    assert info.value.seq == seq + 1

    # A dropped last line keeps seq and prev in order; the count catches it.
    last = audit_count
    truncated = b"\n".join(lines[:last] + lines[last + 1:]) + b"\n"
    with pytest.raises(ExportError, match="audit lines"):
        docclient.verify_export_chain(truncated)

    # A changed last line breaks no prev; only the checkpoint catches it.
    raw = bytearray(lines[last])
    pos = raw.index(b'"time":"') + len(b'"time":"') + 3
    raw[pos] = ord("1") if raw[pos] != ord("1") else ord("2")
    tail = b"\n".join(lines[:last] + [bytes(raw)] + lines[last + 1:]) + b"\n"
    docclient.verify_export_chain(tail)
    with pytest.raises(ExportError, match="checkpoint hash"):
        docclient.check_export_checkpoints(tail)

    docclient.check_export_checkpoints(export)  # the original is fine


def test_verifier_key_id(conn):
    key = conn.audit_head()["verifier_key"]
    name, kid, public_key = docclient.parse_verifier_key(key)
    assert len(public_key) == 32
    assert kid == hashlib.sha256(name.encode() + b"\n\x01" + public_key).digest()[:4]
    wrong_id = "%08x" % (int.from_bytes(kid, "big") ^ 1)
    with pytest.raises(ExportError, match="key id"):
        docclient.parse_verifier_key("%s+%s+%s" % (name, wrong_id, key.split("+", 2)[2]))
    with pytest.raises(ExportError, match="not the trusted one"):
        docclient.check_export_checkpoints(conn.audit_export(), verifier_key=key + "x")


def test_restart_keeps_records_and_chain(vault):
    with Connection(vault.sock) as c:
        assert c.put("durable", "D-1", VIETNAMESE) == 1
        lines_before = c.audit_head()["lines"]
    vault.stop()
    vault.start()
    with Connection(vault.sock) as c:
        assert c.get("durable", "D-1")["data"] == VIETNAMESE
        export = c.audit_export()
        checked = docclient.verify_export_chain(export)
        docclient.check_export_checkpoints(checked)
        assert len(checked.lines) > lines_before
        assert c.audit_verify()["lines"] >= lines_before
