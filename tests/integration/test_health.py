"""Health (issue #10): Status and the sd_notify STATUS= line say whether
the vault is well or needs an admin, with the numbers behind it, and tell
a service nothing of it. Real daemon, real disk (a small tmpfs), real
tampering."""
import os
import re
import socket
import subprocess
import time

from conftest import NOBODY, VAULTCTL, VAULTD, Client, Vault, calls_as, small_disk
from test_integrity import alter_audit_line, dump, flip_ciphertext, load

SERVICE_POLICY = """\
allow user root role admin,auditor
allow user root role service collections *
allow user %d role service collections tre-em
""" % NOBODY


def status(v):
    return v.ctl("status", json_out=True, check=True).json


def wait_for(what, predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def service_status(v):
    """Status as the service account: the reply's parameters."""
    return calls_as(v.sock, NOBODY, [["io.vaultd.admin.Status", {}]])[0]["parameters"]


def assert_service_sees_nothing(v, state="serving"):
    assert service_status(v) == {"state": state, "version": service_status(v)["version"]}
    r = v.ctl("status", uid=NOBODY)
    assert r.returncode == 0 and r.stdout_text.splitlines()[0] == "state:        " + state
    for word in ("problems", "warnings", "degraded", "integrity", "disk", "checkpoint", "store:"):
        assert word not in r.stdout_text, r.stdout_text
    assert r.stdout_text.endswith("(the counters are shown to admins and auditors only)\n")


def test_a_healthy_vault_serves_and_its_numbers_are_the_files(vault):
    for i in range(20):
        vault.ctl("put", "c", "H-%d" % i, "-", input=os.urandom(2000), check=True)
    vault.export()  # signs a checkpoint over every line, the Export's own included
    st = status(vault)
    data = os.stat(os.path.join(vault.state, "data.mdb"))
    fs = os.statvfs(vault.state)
    assert st["state"] == "serving" and st["problems"] == [] and st["warnings"] == ["no backup yet"]
    assert st["store_bytes"] == data.st_size
    assert 0 < st["map_used_bytes"] <= st["store_bytes"] <= st["map_bytes"]
    assert st["map_free_percent"] == (st["map_bytes"] - st["map_used_bytes"]) * 100 // st["map_bytes"]
    assert st["disk_total_bytes"] == fs.f_blocks * fs.f_frsize
    assert abs(st["disk_free_bytes"] - fs.f_bavail * fs.f_frsize) < 64 << 20
    assert st["disk_free_percent"] == st["disk_free_bytes"] * 100 // st["disk_total_bytes"]
    assert st["checkpoint_size"] == st["audit_lines"] and st["unsigned_lines"] == 0
    assert 0 <= st["checkpoint_age_seconds"] <= 5 and re.match(r"\d{4}-\d\d-\d\dT", st["checkpoint_time"])
    assert st["integrity_failures"] == 0 and "integrity_last" not in st
    r = vault.ctl("status", "--check")
    assert r.returncode == 0 and r.stdout_text.splitlines()[:2] == ["state:        serving",
                                                                     "warnings:     no backup yet"]
    text = r.stdout_text
    assert re.search(r"^checkpoint:   covers %d audit lines, signed (under a minute|1 min) ago$"
                     % st["audit_lines"], text, re.M), text
    assert re.search(r"^store:        \d+ KiB; map 256 MiB, \d+ % free \(it grows as needed\)$", text, re.M)
    assert re.search(r"^disk:         [\d.]+ [KMGT]iB free of [\d.]+ [KMGT]iB \(\d+ %\)$", text, re.M)
    assert "integrity:    no failures since vaultd started\n" in text and "problems:" not in text
    # A backup clears the warning.
    vault.ctl("backup", os.path.join(vault.root, "b.mdb"), check=True)
    assert status(vault)["warnings"] == []


def test_a_nearly_full_disk_is_degraded_and_says_so(vault_dir):
    mnt = os.path.join(vault_dir, "small")
    filler = os.path.join(mnt, "filler")

    def fill_to(free):
        """Grows the filler until the file system has about free bytes left."""
        fs = os.statvfs(mnt)
        with open(filler, "ab") as f:
            f.write(b"\0" * (fs.f_bavail * fs.f_frsize - free))

    with small_disk(mnt, "64m"):
        v = Vault(mnt, policy=SERVICE_POLICY)
        v.start()
        v.ctl("put", "tre-em", "TE-1", "-", input=b"x", check=True)
        assert status(v)["state"] == "serving"
        fill_to(20 << 20)  # above the reserve (8 MiB), under 4 times it
        st = status(v)
        assert st["state"] == "degraded", st
        assert re.fullmatch(r"disk nearly full: \d+ % free \(\d+ MiB left\)", st["problems"][0]), st
        assert st["disk_free_bytes"] < 32 << 20 and st["disk_total_bytes"] == 64 << 20
        r = v.ctl("status")
        assert r.returncode == 0, r.stderr  # plain status: vaultd answered
        lines = r.stdout_text.splitlines()
        assert lines[0] == "state:        degraded" and lines[1].startswith("problems:     disk nearly full:")
        assert "'man vaultctl', HEALTH" in lines[2]
        assert v.ctl("status", "--check").returncode == 1
        assert v.ctl("status", "--check", "--json").returncode == 1
        wait_for("the change of state in the log", lambda: "state: degraded: disk nearly full" in v.read_log())
        # A service learns nothing of it, but can still write.
        assert_service_sees_nothing(v)
        fill_to(4 << 20)  # into the reserve: writes are refused
        st = status(v)
        assert st["state"] == "degraded" and re.fullmatch(
            r"disk full: [\d.]+ MiB left, writes are refused \(StorageFull\)", st["problems"][0]), st
        r = Client(v.sock).call("io.vaultd.records.Put", {"collection": "tre-em", "id": "TE-2", "data": ""})
        assert r["error"] == "io.vaultd.records.StorageFull"
        os.unlink(filler)
        st = status(v)
        assert st["state"] == "serving" and st["problems"] == [], st
        wait_for("the change of state in the log", lambda: "state: serving" in v.read_log())
        assert v.stop() == 0


def test_a_failed_verify_is_degraded_until_a_verify_passes(vault_dir):
    v = Vault(vault_dir, policy=SERVICE_POLICY)
    v.start()
    for i in range(5):
        v.ctl("put", "c", "R-%d" % i, "-", input=b"x", check=True)
    v.stop()
    original = dump(v.state, "audit")
    alter_audit_line(v, 3, b'"R-2"', b'"R-9"')
    v.start()
    try:
        r = v.ctl("audit", "verify")
        assert r.returncode == 3 and "seq=4" in r.stderr
        st = status(v)
        assert st["state"] == "degraded" and st["problems"] == ["audit verify failed at seq 4"], st
        last = st["integrity_last"]
        assert st["integrity_failures"] == 1 and last["kind"] == "verify" and last["operation"] == "audit.verify"
        assert last["what"].startswith("the audit trail does not verify at seq 4: ") and last["seq"] > 4
        assert "integrity failure (verify): the audit trail does not verify at seq 4" in v.read_log()
        text = v.ctl("status").stdout_text
        assert "problems:     audit verify failed at seq 4\n" in text
        assert "integrity:    1 failure since vaultd started; the last at " in text
        assert_service_sees_nothing(v)
        # The line put back as it was (a repair, here by hand): the next
        # Verify passes, and the vault is well again; the failure stays
        # counted.
        load(v.state, "audit", original)
        assert v.ctl("audit", "verify").returncode == 0
        st = status(v)
        assert st["state"] == "serving" and st["problems"] == [], st
        assert st["integrity_failures"] == 1 and st["integrity_last"]["kind"] == "verify"
    finally:
        assert v.stop() == 0


def test_a_get_that_meets_altered_data_is_counted_and_logged_without_the_id(vault):
    vault.ctl("put", "c", "NCC-2024-000123", "-", input=b"a" * 100, check=True)
    vault.stop()
    flip_ciphertext(vault, "c", "NCC-2024-000123", 1)
    vault.start()
    assert vault.ctl("get", "c", "NCC-2024-000123").returncode == 3
    st = status(vault)
    last = st["integrity_last"]
    assert st["state"] == "degraded" and st["integrity_failures"] == 1, st
    assert re.fullmatch(r"integrity failure under a minute ago: records.get \(audit seq %d\)" % last["seq"],
                        st["problems"][0]), st
    assert (last["kind"], last["operation"], last["collection"], last["id"], last["version"]) == \
        ("record", "records.get", "c", "NCC-2024-000123", 1)
    assert last["what"].startswith("records.get of collection c, version 1: ")
    logged = [line for line in vault.read_log().splitlines() if "integrity failure" in line]
    assert len(logged) == 1 and "vaultd: error: integrity failure (record): records.get of collection c" \
        in logged[0] and "audit seq %d" % last["seq"] in logged[0]
    assert "NCC-2024-000123" not in vault.read_log()  # the id stays in the trail and in Status
    text = vault.ctl("status").stdout_text
    assert "              record c NCC-2024-000123 version 1, audit seq %d\n" % last["seq"] in text


def test_a_checkpoint_the_keeper_refuses_is_an_integrity_failure(vault):
    """A line altered in the store while vaultd runs, after the last
    checkpoint: the keeper hashes the lines itself and refuses to sign.
    Counted and logged once, though the writer tries again every second."""
    vault.ctl("put", "c", "K-1", "-", input=b"x", check=True)
    vault.ctl("put", "c", "K-2", "-", input=b"x", check=True)
    st = status(vault)
    assert st["unsigned_lines"] >= 2, st
    alter_audit_line(vault, st["audit_lines"] - 2, b'"K-1"', b'"K-7"')  # the daemon runs meanwhile
    vault.ctl("audit", "export", "-o", os.path.join(vault.root, "e.jsonl"))  # forces a checkpoint
    st = wait_for("the refusal", lambda: (lambda s: s if s["integrity_failures"] else None)(status(vault)))
    last = st["integrity_last"]
    assert st["state"] == "degraded" and st["problems"] == [
        "integrity failure under a minute ago: a checkpoint was not signed or published"], st
    assert (last["kind"], last["operation"]) == ("checkpoint", "audit.checkpoint") and "seq" not in last
    assert last["what"].startswith("the key keeper refused to sign an audit checkpoint: the lines since "
                                   "the last one do not chain")
    assert st["unsigned_lines"] >= 3
    time.sleep(2.5)  # two more tries
    assert status(vault)["integrity_failures"] == 1
    assert vault.read_log().count("integrity failure (checkpoint)") == 1


def test_a_sealed_vault_shows_sealed(vault_dir):
    pf = os.path.join(vault_dir, "pass")
    with open(pf, "w") as f:
        f.write("một câu mật khẩu đủ dài\n")
    v = Vault(vault_dir, policy=SERVICE_POLICY, key_args=["--passphrase-file", pf])
    v.start()
    try:
        st = status(v)
        assert st["state"] == "sealed" and st["problems"] == [], st
        lines = v.ctl("status").stdout_text.splitlines()
        assert lines[:2] == ["state:        sealed",
                             "              records answer Sealed until an admin runs 'vaultctl unseal'"]
        assert v.ctl("status", "--check").returncode == 1
        assert_service_sees_nothing(v, state="sealed")
    finally:
        assert v.stop() == 0


def test_the_status_line_for_systemd(vault_dir):
    """The STATUS= line (fake NOTIFY_SOCKET, as tests/integration/
    test_systemd.py): the state and the main numbers at start, and the
    change to degraded with its problem within a few seconds."""
    v = Vault(vault_dir)
    v.start()
    for i in range(5):
        v.ctl("put", "c", "R-%d" % i, "-", input=b"x", check=True)
    v.stop()
    alter_audit_line(v, 3, b'"R-2"', b'"R-9"')
    notify = os.path.join(vault_dir, "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(notify)
    os.chmod(notify, 0o666)  # vaultd sends as nobody
    ns.settimeout(10)
    env = dict(os.environ, NOTIFY_SOCKET=notify)
    p = subprocess.Popen([VAULTD, "--state-dir", v.state, "--key-file", v.key, "--policy", v.policy,
                          "--socket", v.sock] + v.daemon_user(), env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    statuses = []

    def next_status(prefix):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for m in ns.recv(4096).decode().split("\n"):
                if m.startswith("STATUS="):
                    statuses.append(m)
                    if m.startswith("STATUS=" + prefix):
                        return m
        raise AssertionError("no STATUS=%s... in %s" % (prefix, statuses))

    try:
        first = next_status("serving")
        assert re.fullmatch(r"STATUS=serving: 5 records, \d+ audit lines, \d+ clients; disk \d+ % free; "
                            r"last checkpoint under a minute ago; no backup yet", first), first
        assert subprocess.run([VAULTCTL, "--socket", v.sock, "audit", "verify"],
                              capture_output=True).returncode == 3
        degraded = next_status("degraded")
        assert re.fullmatch(r"STATUS=degraded \(audit verify failed at seq 4\): 5 records, \d+ audit lines, "
                            r"\d+ clients; disk \d+ % free; last checkpoint under a minute ago; no backup yet",
                            degraded), degraded
    finally:
        p.terminate()
        p.wait(timeout=20)
    assert all("R-" not in s for s in statuses)
