"""Resource limits and a full disk, against the real daemon."""
import base64
import os
import socket
import subprocess
import time

import pytest

from conftest import DEFAULT_POLICY, Client, Vault, audit_lines, calls_as, small_disk


def test_full_disk_is_storage_full_not_corruption(vault_dir):
    with small_disk(os.path.join(vault_dir, "small"), "24m") as mnt:
        v = Vault(mnt)
        v.start()
        c = Client(v.sock)
        ok = full = 0
        blob = base64.b64encode(os.urandom(256 * 1024)).decode()
        for i in range(80):
            r = c.call("io.vaultd.records.Put", {"collection": "c", "id": "S-%d" % i, "data": blob})
            if "error" in r:
                assert r["error"] == "io.vaultd.records.StorageFull", r
                full += 1
            else:
                ok += 1
        assert ok > 0 and full > 0
        # Still serving, nothing lost, the trail intact.
        r = c.call("io.vaultd.records.Get", {"collection": "c", "id": "S-0"})
        assert "error" not in r and r["parameters"]["data"] == blob
        c.close()
        assert v.stop() == 0
        v.start()
        assert v.ctl("audit", "verify").returncode == 0
        assert v.ctl("get", "c", "S-%d" % (ok - 1)).returncode == 0
        # Every StorageFull reply followed its own durable audit line.
        refused = [e for e in audit_lines(v.export()) if e.get("error") == "StorageFull"]
        assert len(refused) == full and all(e["op"] == "records.put" and e["result"] == "error"
                                            for e in refused), refused[:2]

        # Now fill the reserve too: not even a refusal can be written, so
        # vaultd answers nothing and stops, rather than answer unaudited.
        filler = os.path.join(mnt, "filler")
        subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=64k"], capture_output=True)
        c = Client(v.sock, timeout=20)
        c.send("io.vaultd.records.Put", {"collection": "c", "id": "S-x", "data": blob})
        try:
            reply = c.recv()
        except (ConnectionError, OSError):
            reply = None
        assert reply is None, reply
        assert v.proc.wait(timeout=20) != 0
        assert "cannot write audit lines" in v.read_log()
        v.proc = None
        os.unlink(filler)
        v.start()  # room again: it serves, and nothing was lost or forged
        assert v.ctl("audit", "verify").returncode == 0
        assert v.ctl("get", "c", "S-0").returncode == 0
        assert v.stop() == 0


def test_slow_sender_is_cut_off_others_served(vault_dir):
    v = Vault(vault_dir, extra_args=["--request-timeout", "1"])
    v.start()
    try:
        slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        slow.connect(v.sock)
        slow.sendall(b'{"method":"io.vaultd.admin.Status","param')
        good = Client(v.sock)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert good.call("io.vaultd.admin.Status")["parameters"]["state"] == "serving"
            time.sleep(0.2)
        slow.settimeout(2)
        assert slow.recv(100) == b""  # disconnected
    finally:
        assert v.stop() == 0


def test_connection_limit(vault_dir):
    v = Vault(vault_dir, extra_args=["--max-connections", "5"])
    v.start()
    try:
        time.sleep(0.2)  # let the start-up probe connection close
        held = [Client(v.sock) for _ in range(5)]
        for c in held:
            assert "error" not in c.call("io.vaultd.admin.Status")
        extra = Client(v.sock, timeout=5)
        with pytest.raises((ConnectionError, OSError)):
            extra.call("io.vaultd.admin.Status")
        held[0].close()
        time.sleep(0.2)
        again = Client(v.sock)
        assert "error" not in again.call("io.vaultd.admin.Status")
    finally:
        assert v.stop() == 0


def test_pipelined_replies_in_order(vault):
    c = Client(vault.sock)
    for i in range(200):
        if i % 3 == 0:
            c.send("org.varlink.service.GetInfo")
        else:
            c.send("io.vaultd.records.Put", {"collection": "p", "id": "P-%d" % (i % 7), "data": ""})
    versions = {}
    for i in range(200):
        r = c.recv()
        if i % 3 == 0:
            assert r["parameters"]["product"] == "vaultd"
        else:
            rid = "P-%d" % (i % 7)
            versions[rid] = versions.get(rid, 0) + 1
            assert r["parameters"]["version"] == versions[rid]


def test_bad_messages_answered_connection_kept(vault):
    c = Client(vault.sock)
    for raw, err in [(b"not json\0", "org.varlink.service.InvalidParameter"),
                     (b'{"method":"io.vaultd.records.Get","parameters":{"collection":"\xff"}}\0',
                      "org.varlink.service.InvalidParameter"),
                     (b"[1,2]\0", "org.varlink.service.InvalidParameter"),
                     (b'{"method":"io.nothing.X"}\0', "org.varlink.service.InterfaceNotFound"),
                     (b'{"method":"io.vaultd.records.Nope"}\0', "org.varlink.service.MethodNotFound"),
                     (b'{"method":"io.vaultd.audit.Export"}\0', "org.varlink.service.ExpectedMore"),
                     (b'{"method":"io.vaultd.records.Put","parameters":{"collection":"c","id":"X","data":"%%%"}}\0',
                      "io.vaultd.records.InvalidParameter"),
                     (b'{"method":"io.vaultd.records.Get","parameters":{"collection":7,"id":"X"}}\0',
                      "io.vaultd.records.InvalidParameter")]:
        c.send(None, raw=raw)
        assert c.recv()["error"] == err, raw
    assert c.call("io.vaultd.admin.Status")["parameters"]["state"] == "serving"
    errors = [e.get("error") for e in audit_lines(vault.export()) if e["op"].startswith("records.")]
    assert errors == ["InvalidParameter", "InvalidParameter"]


def test_rebuild_index_asks_for_the_space_it_may_write(vault_dir):
    """One RebuildIndex call re-tags up to 1,000 records all over the
    store: its batch asks the disk for that much room (about 37 MB), not
    twice its 100-byte request, so that it cannot take the space kept for
    refusal lines. A Put beside it still goes through."""
    with small_disk(os.path.join(vault_dir, "small"), "40m") as mnt:
        v = Vault(mnt)
        v.start()
        try:
            c = Client(v.sock)
            r = c.call("io.vaultd.records.CreateCollection", {"collection": "ho-so", "index": ["ma"]})
            assert "error" not in r, r
            put = {"collection": "ho-so", "id": "A-1", "data": "eA==", "index": {"ma": "1"}}
            assert "error" not in c.call("io.vaultd.records.Put", put)
            r = c.call("io.vaultd.records.RebuildIndex", {"collection": "ho-so"})
            assert r["error"] == "io.vaultd.records.StorageFull", r
            assert "error" not in c.call("io.vaultd.records.Put", dict(put, id="A-2"))
            # Calls that will not run count nothing of it: a service that
            # may not RebuildIndex cannot make its batch StorageFull.
            v.write_policy(DEFAULT_POLICY + "allow user 4242 role service collections ho-so\n")
            v.ctl("policy", "reload", check=True)
            got = calls_as(v.sock, 4242, [["io.vaultd.records.RebuildIndex", {"collection": "ho-so"}]] * 10 +
                           [["io.vaultd.records.Put", dict(put, id="A-3")]], pipelined=True)
            assert [g.get("error") for g in got] == ["io.vaultd.records.AccessDenied"] * 10 + [None], got
        finally:
            assert v.stop() == 0, v.read_log()
