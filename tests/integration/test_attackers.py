"""Local attackers against the real daemon (issue: unauthenticated floods,
stale policy, leaking status): each test reproduces the attack."""
import os
import signal
import subprocess
import time

from conftest import CLIENT_SCRIPT, Client, Vault, audit_lines, calls_as

SERVICE, OTHER, ADMIN_VIA_GROUP = 4501, 4502, 4503

POLICY = """\
allow user root role admin,auditor
allow user root role service collections *
allow user %d role service collections mine
allow user %d role service collections theirs
allow group 5070 role admin
""" % (SERVICE, OTHER)


def test_status_shows_a_service_no_other_tenants_activity(vault_dir):
    v = Vault(vault_dir, policy=POLICY)
    v.start()
    try:
        calls_as(v.sock, OTHER, [("io.vaultd.records.Put", {"collection": "theirs", "id": "T-1", "data": ""})])
        svc = calls_as(v.sock, SERVICE, [("io.vaultd.admin.Status", {})])[0]["parameters"]
        assert svc == {"state": "serving", "version": svc["version"]}, svc
        admin = Client(v.sock).call("io.vaultd.admin.Status")["parameters"]
        assert admin["records"] == 1 and admin["audit_lines"] > 1
    finally:
        assert v.stop() == 0


def test_more_than_64_groups_still_match_group_rules(vault_dir):
    v = Vault(vault_dir, policy=POLICY)
    v.start()
    try:
        groups = list(range(5001, 5071))  # 70 groups; the rule names the last
        r = calls_as(v.sock, ADMIN_VIA_GROUP, [("io.vaultd.admin.Status", {})], groups=groups)[0]
        assert "records" in r["parameters"], r  # the admin's view: the group rule matched
        r = calls_as(v.sock, ADMIN_VIA_GROUP, [("io.vaultd.admin.Status", {})], groups=groups[:-1])[0]
        assert r["error"] == "io.vaultd.admin.AccessDenied"
    finally:
        assert v.stop() == 0


def test_reload_cuts_off_calls_already_dispatched(vault_dir):
    """Nothing the reload revoked commits after the reload's audit line."""
    v = Vault(vault_dir, policy=POLICY)
    v.start()
    code = (CLIENT_SCRIPT +
            "c=Client(sys.argv[1])\n"
            "put=lambda k: c.send('io.vaultd.records.Put',{'collection':'mine','id':'R-%d'%(k%64),'data':''})\n"
            "for k in range(64): put(k)\n"
            "k=64\n"
            "while True:\n"  # a sliding window: calls always in flight
            "    c.recv(); put(k); k+=1\n")
    flood = subprocess.Popen(["setpriv", "--reuid", str(SERVICE), "--regid", str(SERVICE), "--clear-groups",
                              "/usr/bin/python3", "-c", code, v.sock])
    try:
        time.sleep(0.5)
        v.write_policy(POLICY.replace("allow user %d role service collections mine\n" % SERVICE, ""))
        r = Client(v.sock).call("io.vaultd.admin.ReloadPolicy")
        assert "error" not in r, r
        time.sleep(0.5)  # calls keep coming after the reload
        flood.kill()
        flood.wait(timeout=20)
        lines = audit_lines(v.export())
        reload_seq = next(e["seq"] for e in lines if e["op"] == "admin.reload-policy")
        after = [e for e in lines if e["seq"] > reload_seq and e["actor"]["uid"] == SERVICE]
        assert after, "the flood ended before the reload: the test proves nothing"
        assert all(e["result"] == "denied" for e in after), [e for e in after if e["result"] != "denied"][:3]
        assert any(e["result"] == "ok" for e in lines if e["actor"]["uid"] == SERVICE)
    finally:
        if flood.poll() is None:
            flood.kill()
        assert v.stop() == 0


def test_fifo_at_policy_path_is_refused_not_hung(vault_dir):
    v = Vault(vault_dir)
    v.start()
    try:
        os.unlink(v.policy)
        os.mkfifo(v.policy)
        c = Client(v.sock, timeout=10)
        r = c.call("io.vaultd.admin.ReloadPolicy")
        assert r["error"] == "io.vaultd.admin.InvalidParameter"
        assert "not a regular file" in r["parameters"]["reason"]
        # The writer is free: records still go through.
        r = c.call("io.vaultd.records.Put", {"collection": "c", "id": "F-1", "data": ""})
        assert r["parameters"]["version"] == 1
    finally:
        os.unlink(v.policy)
        v.write_policy("allow user root role admin,auditor\n")
        assert v.stop() == 0


def test_policy_warnings_are_logged_and_returned(vault_dir):
    policy = "allow user root role admin,auditor\nallow user no-such-account role service collections c\n"
    v = Vault(vault_dir, policy=policy)
    v.start()
    try:
        assert "no-such-account" in v.read_log()  # at start
        r = Client(v.sock).call("io.vaultd.admin.ReloadPolicy")["parameters"]
        assert any("no-such-account" in w for w in r["warnings"]), r
        assert v.read_log().count("no-such-account") >= 2  # and at every load
    finally:
        assert v.stop() == 0


def test_sighup_reload_names_who_sent_the_signal(vault):
    os.kill(vault.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "policy reloaded" not in vault.read_log():
        assert time.monotonic() < deadline, vault.read_log()
        time.sleep(0.05)
    line = [e for e in audit_lines(vault.export()) if e["op"] == "admin.reload-policy"][-1]
    # The test runs as root and sent the signal itself; the daemon runs as
    # nobody, whose uid the line used to carry.
    assert line["actor"]["uid"] == os.getuid() and line["actor"]["pid"] == os.getpid(), line
    assert line["actor"]["role"] == "system" and line["result"] == "ok"


# A service's small Get during a flood, p99: 10.7 ms measured on a quiet
# 2-core machine (the target is 50 ms; the old daemon took over a
# second). The bound leaves room for a busy machine, and ASan's slowness.
P99_LIMIT = 0.3 if "ASAN_OPTIONS" in os.environ else 0.1


FLOOD = """
import json, socket, sys, time
sock, seconds, kind = sys.argv[1], float(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_UNIX); s.connect(sock); s.settimeout(30)
if kind == "put":
    msg = json.dumps({"method": "io.vaultd.records.Put",
                      "parameters": {"collection": "c", "id": "X-1", "data": "QUJD"}}).encode() + b"\\0"
else:  # 64 KiB of "[]": a parse tree far larger than the message
    msg = (b'{"method":"io.vaultd.records.Put","parameters":{"x":[' + b"[]," * 21000 + b"[]]}}\\0")
end, sent, got = time.monotonic() + seconds, 0, 0
while time.monotonic() < end:
    for _ in range(32):
        s.sendall(msg); sent += 1
    while got < sent:
        got += s.recv(1 << 20).count(b"\\0")
print(sent)
"""


def flood(v, seconds, kind, conns, uid=4343):
    return [subprocess.Popen(["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups",
                              "/usr/bin/python3", "-c", FLOOD, v.sock, str(seconds), kind],
                             stdout=subprocess.PIPE, text=True) for _ in range(conns)]


def small_gets_while(procs, v, pid):
    """A service's small Gets while the flood runs: latencies and peak RSS."""
    c = Client(v.sock)
    assert c.call("io.vaultd.records.Put", {"collection": "c", "id": "G-1", "data": "eA=="})["parameters"]
    lat, rss = [], 0
    while any(p.poll() is None for p in procs):
        t = time.monotonic()
        r = c.call("io.vaultd.records.Get", {"collection": "c", "id": "G-1"})
        lat.append(time.monotonic() - t)
        assert "error" not in r, r
        with open("/proc/%d/status" % pid) as f:
            rss = max(rss, int(next(l for l in f if l.startswith("VmRSS:")).split()[1]) * 1024)
        time.sleep(0.005)
    lat.sort()
    return lat[int(len(lat) * 0.99)], rss, sum(int(p.stdout.read() or 0) for p in procs)


def test_roleless_denial_flood_adds_a_line_per_second_not_per_call(vault):
    before = len(audit_lines(vault.export()))
    size_before = os.path.getsize(os.path.join(vault.state, "data.mdb"))
    p99, _, sent = small_gets_while(flood(vault, 5, "put", 4), vault, vault.proc.pid)
    # Each connection gets at most its 64 calls in flight (--max-pending)
    # answered per summary line: the flood is slowed down, not just summed up.
    assert 4 * 64 <= sent <= 4 * 64 * 8, sent
    lines = audit_lines(vault.export())
    mine = [e for e in lines[before:] if e["actor"]["uid"] == 4343]
    # One line per (uid, method) and second, each counting its calls.
    assert len(mine) <= 12, len(mine)
    assert sum(e["count"] for e in mine) == sent
    assert all(e["result"] == "denied" and e["error"] == "AccessDenied" and e["collections"] == ["c"]
               for e in mine), mine[0]
    grown = os.path.getsize(os.path.join(vault.state, "data.mdb")) - size_before
    assert grown < (1 << 20)
    assert p99 < P99_LIMIT, "a service's Get p99 %.1f ms during the flood" % (p99 * 1000)
    print("role-less flood, 5 s x 4 connections: %d calls answered, %d lines, store +%d KiB, "
          "service Get p99 %.1f ms" % (sent, len(mine), grown >> 10, p99 * 1000))


def test_denial_window_is_configurable(vault_dir):
    v = Vault(vault_dir, extra_args=["--denial-window", "3"])
    v.start()
    try:
        before = len(audit_lines(v.export()))
        for p in flood(v, 4, "put", 2):
            p.wait(timeout=60)
        mine = [e for e in audit_lines(v.export())[before:] if e["actor"]["uid"] == 4343]
        assert 1 <= len(mine) <= 3, len(mine)  # one per 3 s window, not one per second
    finally:
        assert v.stop() == 0


def test_roleless_parse_bombs_keep_memory_bounded(vault):
    p99, rss, sent = small_gets_while(flood(vault, 4, "bomb", 32), vault, vault.proc.pid)
    assert sent >= 32, sent
    assert rss < (128 << 20), "vaultd RSS %d MiB" % (rss >> 20)
    assert p99 < P99_LIMIT, "a service's Get p99 %.1f ms during the flood" % (p99 * 1000)
