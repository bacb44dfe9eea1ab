"""Regression tests for defects found in review; each failed before its fix."""
import base64
import json
import os
import socket
import subprocess
import time

from conftest import Client, Vault, audit_lines


def test_many_pipelined_direct_calls_all_answered(vault):
    # Replies queued behind a full pipeline used to wait forever.
    c = Client(vault.sock)
    for _ in range(100):
        c.send("org.varlink.service.GetInfo")
    for _ in range(100):
        assert c.recv()["parameters"]["product"] == "vaultd"


def test_export_stream_completes_with_a_fast_reader(vault):
    Client(vault.sock).put_many("e", 3000, records=50)
    for _ in range(3):
        data = vault.export()
        header = json.loads(data.split(b"\n")[0])
        assert len(audit_lines(data)) == header["last_seq"] + 1


def test_overlong_id_never_reaches_the_audit_line(vault):
    c = Client(vault.sock)
    r = c.call("io.vaultd.records.Put", {"collection": "c", "id": "x" * 70000, "data": ""})
    assert r["error"] == "io.vaultd.records.InvalidParameter"
    r = c.call("io.vaultd.records.Put", {"collection": "Ä" * 10, "id": "ok", "data": ""})
    assert r["error"] == "io.vaultd.records.InvalidParameter"
    assert vault.ctl("audit", "verify").returncode == 0
    bad = [e for e in audit_lines(vault.export()) if e.get("error") == "InvalidParameter"]
    assert len(bad) == 2
    assert bad[0]["collection"] == "c" and "id" not in bad[0]
    assert "collection" not in bad[1] and "id" not in bad[1]


def test_connections_closing_mid_message_do_not_crash(vault):
    for _ in range(5):
        socks = []
        for _ in range(48):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(vault.sock)
            try:
                s.sendall(b'{"method":"io.vaultd.records.Put","parameters":{"collection":"c"')
            except BrokenPipeError:
                pass  # over the per-user connection limit: closed at once
            socks.append(s)
        for s in socks:
            s.close()
    time.sleep(0.5)  # let vaultd see the closes (they count against the per-user limit)
    assert Client(vault.sock).call("io.vaultd.admin.Status")["parameters"]["state"] == "serving"
    assert vault.proc.poll() is None


def test_half_closed_client_gets_its_replies(vault):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(vault.sock)
    s.sendall(b'{"method":"io.vaultd.records.Put","parameters":{"collection":"c","id":"H-1","data":"aGk="}}\0')
    s.shutdown(socket.SHUT_WR)
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    assert json.loads(buf.split(b"\0")[0])["parameters"]["version"] == 1


def test_roleless_peer_gets_small_messages_and_few_connections(vault_dir):
    v = Vault(vault_dir, extra_args=["--max-connections-per-user", "4"])
    v.start()
    try:
        big = json.dumps({"method": "io.vaultd.admin.Status",
                          "parameters": {"pad": "x" * (100 << 10)}}).encode() + b"\0"
        code = ("import socket,sys\n"
                "s=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1]);s.settimeout(5)\n"
                "try:\n s.sendall(sys.stdin.buffer.read())\nexcept OSError: pass\n"
                "b=b''\n"
                "while True:\n"
                " try: c=s.recv(65536)\n"
                " except OSError: break\n"
                " if not c: break\n"
                " b+=c\n"
                "print(b.split(b'\\0')[0].decode())\n")
        r = subprocess.run(["setpriv", "--reuid", "4343", "--regid", "4343", "--clear-groups",
                            "/usr/bin/python3", "-c", code, v.sock], input=big, capture_output=True,
                           timeout=30)
        assert json.loads(r.stdout) == {"error": "org.varlink.service.InvalidParameter",
                                        "parameters": {"parameter": "message"}}, r.stdout + r.stderr
        # Root may hold only 4 connections at once.
        held = [Client(v.sock) for _ in range(4)]
        for c in held:
            assert "error" not in c.call("org.varlink.service.GetInfo")
        extra = Client(v.sock, timeout=5)
        try:
            extra.call("org.varlink.service.GetInfo")
            raise AssertionError("a fifth connection was served")
        except (ConnectionError, OSError):
            pass
    finally:
        assert v.stop() == 0


def test_verify_runs_in_turns_over_a_long_trail(vault):
    # More lines than one verification turn checks; a broken line past the
    # first turn is still found.
    c = Client(vault.sock)
    c.put_many("v", 12000, records=100)
    c.send("io.vaultd.audit.Verify")
    c.send("org.varlink.service.GetInfo")
    r = c.recv()
    assert r["parameters"]["lines"] >= 12002 and r["parameters"]["checkpoints"] >= 12
    assert c.recv()["parameters"]["product"] == "vaultd"  # answered after, in order


def test_history_is_paged(vault):
    c = Client(vault.sock)
    c.put_many("h", 1205, records=1)
    page = c.call("io.vaultd.records.History", {"collection": "h", "id": "R-0"})["parameters"]
    assert len(page["versions"]) == 1000 and page["next"] == 1000
    page = c.call("io.vaultd.records.History", {"collection": "h", "id": "R-0", "after_version": 1000,
                                                  "limit": 100})["parameters"]
    assert [v["version"] for v in page["versions"]] == list(range(1001, 1101)) and page["next"] == 1100
    whole = vault.ctl("history", "h", "R-0", json_out=True).json
    assert [v["version"] for v in whole["versions"]] == list(range(1, 1206)) and "next" not in whole


def test_half_close_after_reply_started_gets_all_of_it(vault):
    c = Client(vault.sock)
    body = base64.b64encode(os.urandom(500 * 1024)).decode()
    assert "error" not in c.call("io.vaultd.records.Put", {"collection": "b", "id": "B-1", "data": body})
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(vault.sock)
    s.sendall(b'{"method":"io.vaultd.records.Get","parameters":{"collection":"b","id":"B-1"}}\0')
    time.sleep(0.5)  # the reply is in vaultd's buffer, part-sent
    s.shutdown(socket.SHUT_WR)
    buf = b""
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
    assert json.loads(buf.split(b"\0")[0])["parameters"]["data"] == body
