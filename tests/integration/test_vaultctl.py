"""Every method and named error through the real vaultctl and vaultd."""
import base64
import hashlib
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import VAULTD, Vault, audit_lines


def put(vault, coll, rid, body, *extra):
    return vault.ctl("put", coll, rid, "-", *extra, input=body)


def test_init_refuses_to_overwrite(vault):
    init = [VAULTD, "--init", "--state-dir", vault.state, "--key-file", vault.key]
    r = subprocess.run(init, capture_output=True, text=True)
    assert r.returncode == 1 and "in use by another vaultd" in r.stderr  # served right now
    vault.stop()
    r = subprocess.run(init, capture_output=True, text=True)
    assert r.returncode == 1 and "the directory is not empty" in r.stderr
    vault.start()
    r = subprocess.run([VAULTD, "--generate-key", vault.key], capture_output=True, text=True)
    assert r.returncode == 1 and "refusing to overwrite" in r.stderr
    assert os.stat(vault.key).st_mode & 0o777 == 0o600


def test_put_get_versions(vault):
    body = "Họ tên: Nguyễn Thị Hoa\nCCCD: 001190012345\n".encode()
    r = put(vault, "nguoi-co-cong", "NCC-1", body)
    assert r.returncode == 0 and "version 1" in r.stdout_text
    assert put(vault, "nguoi-co-cong", "NCC-1", b"second").returncode == 0
    assert vault.ctl("get", "nguoi-co-cong", "NCC-1").stdout == b"second"
    assert vault.ctl("get", "nguoi-co-cong", "NCC-1", "--version", "1").stdout == body
    out = os.path.join(vault.root, "out.bin")
    assert vault.ctl("get", "nguoi-co-cong", "NCC-1", "-o", out).returncode == 0
    assert open(out, "rb").read() == b"second"
    assert os.stat(out).st_mode & 0o777 == 0o600
    j = vault.ctl("get", "nguoi-co-cong", "NCC-1", json_out=True).json
    assert j["version"] == 2 and base64.b64decode(j["data"]) == b"second" and j["size"] == 6


def test_put_from_file_and_binary(vault):
    path = os.path.join(vault.root, "scan.bin")
    blob = bytes(range(256)) * 64
    open(path, "wb").write(blob)
    assert vault.ctl("put", "ho-ngheo", "HN-9", path).returncode == 0
    assert vault.ctl("get", "ho-ngheo", "HN-9").stdout == blob


def test_if_version_conflict(vault):
    assert put(vault, "tre-em", "TE-1", b"a", "--if-version", "0").returncode == 0
    r = put(vault, "tre-em", "TE-1", b"b", "--if-version", "0")
    assert r.returncode == 1 and "Conflict" in r.stderr and "current=1" in r.stderr
    assert put(vault, "tre-em", "TE-1", b"b", "--if-version", "1").returncode == 0
    r = vault.ctl("delete", "tre-em", "TE-1", "--if-version", "1")
    assert r.returncode == 1 and "Conflict" in r.stderr


def test_delete_history_notfound(vault):
    put(vault, "tre-em", "TE-2", b"v1")
    put(vault, "tre-em", "TE-2", b"v2")
    r = vault.ctl("delete", "tre-em", "TE-2")
    assert r.returncode == 0 and "version 3" in r.stdout_text
    r = vault.ctl("get", "tre-em", "TE-2")
    assert r.returncode == 6 and "NotFound" in r.stderr
    assert vault.ctl("get", "tre-em", "TE-2", "--version", "2").stdout == b"v2"
    r = vault.ctl("get", "tre-em", "TE-2", "--version", "3")
    assert r.returncode == 6 and "NotFound" in r.stderr
    h = vault.ctl("history", "tre-em", "TE-2", json_out=True).json
    assert [v["deleted"] for v in h["versions"]] == [False, False, True] and h["deleted"]
    assert "NotFound" in vault.ctl("delete", "tre-em", "TE-2").stderr
    assert "NotFound" in vault.ctl("history", "tre-em", "TE-404").stderr
    # A deleted record can be stored again; versions keep counting.
    assert "version 4" in put(vault, "tre-em", "TE-2", b"back").stdout_text


def test_list_pagination(vault):
    ids = ["R-%03d" % i for i in range(25)]
    for rid in reversed(ids):
        put(vault, "bao-tro-xa-hoi", rid, rid.encode())
    put(vault, "other", "X-1", b"x")
    vault.ctl("delete", "bao-tro-xa-hoi", "R-005", check=True)
    page = vault.ctl("list", "bao-tro-xa-hoi", "--limit", "10", json_out=True).json
    assert [r["id"] for r in page["records"]] == ids[:5] + ids[6:11] and page["next"] == "R-010"
    page2 = vault.ctl("list", "bao-tro-xa-hoi", "--limit", "10", "--after", "R-010", json_out=True).json
    assert [r["id"] for r in page2["records"]][0] == "R-011"
    full = vault.ctl("list", "bao-tro-xa-hoi", "--all", "--limit", "7", json_out=True).json
    assert [r["id"] for r in full["records"]] == [i for i in ids if i != "R-005"]
    assert "next" not in full
    r = vault.ctl("list", "bao-tro-xa-hoi", "--limit", "0")
    assert r.returncode == 1 and "InvalidParameter" in r.stderr


@pytest.mark.parametrize("coll,rid,param", [
    ("Bad", "X-1", "collection"), ("a,b", "X-1", "collection"), ("x" * 65, "X-1", "collection"),
    ("ok", "bad id", "id"), ("ok", "-x", "id"), ("ok", "i" * 129, "id"),
])
def test_invalid_names(vault, coll, rid, param):
    # "--" ends the options, so that "-x" reaches vaultd as an id.
    r = vault.ctl("put", "--", coll, rid, "-", input=b"x")
    assert r.returncode == 1 and "InvalidParameter" in r.stderr and "parameter=" + param in r.stderr


def test_too_large(vault_dir):
    v = Vault(vault_dir, extra_args=["--max-body", "1024"])
    v.start()
    try:
        assert put(v, "c", "ok", b"x" * 1024).returncode == 0
        r = put(v, "c", "big", b"x" * 1025)
        assert r.returncode == 1 and "TooLarge" in r.stderr and "limit=1024" in r.stderr
        # Far over the message limit: an error and a disconnect, the daemon lives on.
        r = put(v, "c", "huge", b"x" * 200000)
        assert r.returncode == 1
        assert put(v, "c", "ok2", b"fine").returncode == 0
    finally:
        assert v.stop() == 0
    errors = [e.get("error") for e in audit_lines(_export_offline(v))]
    assert "TooLarge" in errors


def _export_offline(v):
    v.start()
    try:
        return v.export()
    finally:
        v.stop()


def test_status(vault):
    put(vault, "c", "A-1", b"x")
    s = vault.ctl("status", json_out=True).json
    assert s["state"] == "serving" and s["records"] == 1 and s["audit_lines"] >= 2
    assert "records:      1" in vault.ctl("status").stdout_text


def test_audit_head_export_verify(vault):
    put(vault, "c", "A-1", b"x")
    head = vault.ctl("audit", "head", json_out=True).json
    assert len(head["hash"]) == 64 and head["verifier_key"].startswith(head["origin"] + "+")
    data = vault.export()
    path = os.path.join(vault.root, "e.jsonl")
    open(path, "wb").write(data)
    r = vault.ctl("audit", "verify", "--file", path, "--key", head["verifier_key"])
    assert r.returncode == 0 and r.stdout_text.startswith("OK"), r.stderr
    r = vault.ctl("audit", "verify")
    assert r.returncode == 0 and "verifies" in r.stdout_text
    ops = [e["op"] for e in audit_lines(data)]
    assert ops[0] == "vault.init" and "records.put" in ops and ops[-1] == "audit.export"
    # Exporting refuses to overwrite a file.
    r = vault.ctl("audit", "export", "-o", path)
    assert r.returncode == 1 and "will not overwrite" in r.stderr


def test_export_range(vault):
    for i in range(5):
        put(vault, "c", "A-%d" % i, b"x")
    data = vault.export("--from", "2", "--to", "3")
    header = json.loads(data.split(b"\n")[0])
    lines = audit_lines(data)
    assert header["first_seq"] == 2 and lines[0]["seq"] == 2
    # The export ends at the first signed checkpoint at or after seq 3.
    assert lines[-1]["seq"] == header["last_seq"] >= 3
    path = os.path.join(vault.root, "r.jsonl")
    open(path, "wb").write(data)
    assert vault.ctl("audit", "verify", "--file", path).returncode == 0
    r = vault.ctl("audit", "export", "--from", "100000")
    assert r.returncode == 1 and "InvalidParameter" in r.stderr


def test_tampered_export_is_caught(vault):
    put(vault, "c", "A-1", b"x")
    put(vault, "c", "A-2", b"y")
    head = vault.ctl("audit", "head", json_out=True).json
    lines = vault.export().split(b"\n")
    lines[2] = lines[2].replace(b'"records.put"', b'"records.get"')
    path = os.path.join(vault.root, "t.jsonl")
    open(path, "wb").write(b"\n".join(lines))
    r = vault.ctl("audit", "verify", "--file", path, "--key", head["verifier_key"])
    assert r.returncode == 3 and "does NOT verify" in r.stderr and "line 4 of the file" in r.stderr
    # A different key than the vault's is refused.
    other = head["verifier_key"].replace(head["origin"], "someone-else", 1)
    open(path, "wb").write(b"\n".join(vault.export().split(b"\n")))
    r = vault.ctl("audit", "verify", "--file", path, "--key", other)
    assert r.returncode == 3 and "does NOT verify" in r.stderr


def test_export_rechecked_with_hashlib_only(vault):
    """An outsider's check, with nothing but json and hashlib (docs/audit-format.md)."""
    for i in range(30):
        put(vault, "c", "A-%d" % i, b"x")
    lines = vault.export().split(b"\n")[:-1]
    header = json.loads(lines[0])
    prev, count, leaves = header["prev"], 0, []
    for raw in lines[1:]:
        entry = json.loads(raw)
        if "checkpoint" in entry:
            break
        assert entry["prev"] == prev
        prev = hashlib.sha256(raw).hexdigest()
        leaves.append(hashlib.sha256(b"\0" + raw).digest())
        count += 1
    assert count == header["last_seq"] - header["first_seq"] + 1 and header["first_seq"] == 0

    def mth(hashes):  # RFC 6962's Merkle tree hash, as docs/audit-format.md defines it
        if len(hashes) == 1:
            return hashes[0]
        k = 1 << (len(hashes) - 1).bit_length() - 1
        return hashlib.sha256(b"\1" + mth(hashes[:k]) + mth(hashes[k:])).digest()

    # The last checkpoint's hash is the root of the tree of every line.
    note = json.loads(lines[-1])["checkpoint"]
    origin, size, b64 = note.split("\n")[:3]
    assert int(size) == header["last_seq"] + 1
    assert base64.b64decode(b64) == mth(leaves)


def test_policy_check(vault):
    good = os.path.join(vault.root, "good.policy")
    open(good, "w").write("# ok\nallow user root role admin\nallow group nosuchgroup role auditor\n")
    r = vault.ctl("policy", "check", good, socket=False)
    assert r.returncode == 0 and "2 rules, 1 warning\n" in r.stdout_text and "nosuchgroup" in r.stderr
    bad = os.path.join(vault.root, "bad.policy")
    open(bad, "w").write("allow user root role admin\n\nallow user root role wizard\n")
    r = vault.ctl("policy", "check", bad, socket=False)
    assert r.returncode == 1 and "line 3:" in r.stderr and "unknown role" in r.stderr


def test_policy_reload_keeps_old_on_error(vault):
    vault.write_policy("allow user root role admin,auditor\nallow user root role typo-here\n")
    r = vault.ctl("policy", "reload")
    assert r.returncode == 1 and "InvalidParameter" in r.stderr and "line 2" in r.stderr
    # The old policy (root is a service for every collection) still holds.
    assert put(vault, "c", "A-1", b"x").returncode == 0
    vault.write_policy("allow user root role admin,auditor\n")
    assert vault.ctl("policy", "reload").returncode == 0
    r = put(vault, "c", "A-2", b"x")
    assert r.returncode == 5 and "AccessDenied" in r.stderr
    ops = [(e["op"], e["result"]) for e in audit_lines(vault.export())]
    assert ("admin.reload-policy", "error") in ops and ("admin.reload-policy", "ok") in ops
    assert ("records.put", "denied") in ops


def test_sighup_reloads_policy(vault):
    vault.write_policy("allow user root role admin,auditor\n")
    vault.proc.send_signal(signal.SIGHUP)
    for _ in range(100):
        if "AccessDenied" in put(vault, "c", "A-1", b"x").stderr:
            break
        time.sleep(0.05)
    else:
        pytest.fail("SIGHUP did not reload the policy")
    lines = audit_lines(vault.export())
    reload = [e for e in lines if e["op"] == "admin.reload-policy"]
    # The line names who sent the signal (this test).
    assert reload and reload[-1]["result"] == "ok"
    assert reload[-1]["actor"]["uid"] == os.getuid() and reload[-1]["actor"]["pid"] == os.getpid()


def test_usage_errors(vault):
    assert vault.ctl("bogus").returncode == 2
    assert vault.ctl("get", "only-one-arg").returncode == 2
    assert vault.ctl("get", "c", "x", "--version", "abc").returncode == 2
    r = vault.ctl("get", "--help")
    assert r.returncode == 0 and "usage: vaultctl get" in r.stdout_text
    r = vault.ctl("status", socket=False)  # default socket is not there
    assert r.returncode == 4 and "cannot connect" in r.stderr


def test_daemon_refuses_bad_start(vault_dir):
    v = Vault(vault_dir)
    os.chmod(v.key, 0o644)
    p = subprocess.run([VAULTD, "--state-dir", v.state, "--key-file", v.key,
                        "--policy", v.policy, "--socket", v.sock], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 1 and "chmod 600" in p.stderr
    os.chmod(v.key, 0o600)
    os.makedirs(os.path.join(vault_dir, "other"))
    other = Vault(os.path.join(vault_dir, "other"))
    p = subprocess.run([VAULTD, "--state-dir", v.state, "--key-file", other.key,
                        "--policy", v.policy, "--socket", v.sock], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 1 and "does not open this vault" in p.stderr


def test_policy_reload_line_says_what_changed(vault):
    """The trail records which rules a reload added and removed (an
    auditor's report shows it), not only how many there are now."""
    vault.write_policy("allow user root role admin,auditor\n"
                       "allow user root role service collections people,cases\n"
                       "allow user 4242 role auditor\n")
    vault.ctl("policy", "reload", check=True)
    line = [e for e in audit_lines(vault.export()) if e["op"] == "admin.reload-policy"][-1]
    assert line["rules"] == 3
    assert line["added"] == ["allow user root role service collections people,cases",
                             "allow user 4242 role auditor"]
    assert line["removed"] == ["allow user root role service collections *"]
