"""A root key sealed by a passphrase: the vault starts sealed, records
answer Sealed, the audit trail stays readable; unseal with the passphrase,
wrong ones back off and are audited; seal wipes the keys; the key file; a copy of the state directory and the sealed key file,
without the passphrase, reveals nothing."""
import base64
import os
import subprocess
import time

import pytest

from conftest import VAULTD, Client, Vault, audit_lines

PASS = "đường dây nóng 1900 — một câu dài"


@pytest.fixture
def sealed(vault_dir):
    """A vault whose key file is sealed by PASS, started (sealed)."""
    pf = os.path.join(vault_dir, "pass")
    with open(pf, "w") as f:
        f.write(PASS + "\n")
    v = Vault(vault_dir, key_args=["--passphrase-file", pf])
    v.start()
    yield v
    assert v.stop() in (0, None)


def call(v, method, params=None):
    return Client(v.sock).call(method, params or {})


def test_starts_sealed_and_serves_the_trail(sealed):
    assert call(sealed, "io.vaultd.admin.Status")["parameters"]["state"] == "sealed"
    r = call(sealed, "io.vaultd.records.Put", {"collection": "c", "id": "S-1", "data": ""})
    assert r == {"error": "io.vaultd.records.Sealed", "parameters": {}}
    assert call(sealed, "io.vaultd.records.Get", {"collection": "c", "id": "S-1"})["error"].endswith("Sealed")
    head = call(sealed, "io.vaultd.audit.Head")["parameters"]
    assert head["lines"] >= 1 and head["verifier_key"].startswith("vaultd/")
    assert "error" not in call(sealed, "io.vaultd.audit.Verify")
    assert "sealed by a passphrase" in sealed.read_log()


def test_unseal_then_records_work(sealed):
    r = call(sealed, "io.vaultd.admin.Unseal", {"passphrase": PASS})
    assert r == {"parameters": {"state": "serving"}}, r
    body = base64.b64encode("Nguyễn Văn An".encode()).decode()
    assert call(sealed, "io.vaultd.records.Put", {"collection": "c", "id": "S-1", "data": body})["parameters"]
    assert call(sealed, "io.vaultd.records.Get", {"collection": "c", "id": "S-1"})["parameters"]["data"] == body
    # Checkpoints are signed again, covering what was written while sealed.
    assert call(sealed, "io.vaultd.audit.Head")["parameters"]["checkpoint"]
    assert sealed.ctl("audit", "verify").returncode == 0


def test_wrong_passphrases_back_off_and_are_audited(sealed):
    c = Client(sealed.sock)
    r = c.call("io.vaultd.admin.Unseal", {"passphrase": "wrong"})
    assert r == {"error": "io.vaultd.admin.WrongPassphrase", "parameters": {"retry_after": 1}}
    # Too soon, even on another connection: the backoff is the vault's.
    r = Client(sealed.sock).call("io.vaultd.admin.Unseal", {"passphrase": PASS})
    assert r["error"] == "io.vaultd.admin.TryLater" and r["parameters"]["retry_after"] >= 1
    time.sleep(1.1)
    assert c.call("io.vaultd.admin.Unseal", {"passphrase": "wrong again"})["parameters"]["retry_after"] == 2
    time.sleep(2.1)
    assert c.call("io.vaultd.admin.Unseal", {"passphrase": PASS})["parameters"]["state"] == "serving"
    lines = [e for e in audit_lines(sealed.export()) if e["op"] == "admin.unseal"]
    assert [e.get("error") for e in lines] == ["WrongPassphrase", "TryLater", "WrongPassphrase", None]
    assert [e["result"] for e in lines][-1] == "ok"
    # The passphrase is nowhere: not in the trail, not in the log.
    raw = sealed.export() + sealed.read_log().encode()
    for p in (PASS.encode(), b"wrong again"):
        assert p not in raw


def test_seal_wipes_the_keys_and_unseal_restores(sealed):
    assert call(sealed, "io.vaultd.admin.Unseal", {"passphrase": PASS})["parameters"]["state"] == "serving"
    body = base64.b64encode(b"allowance 1,500,000 VND").decode()
    call(sealed, "io.vaultd.records.Put", {"collection": "c", "id": "S-2", "data": body})
    assert call(sealed, "io.vaultd.admin.Seal")["parameters"]["state"] == "sealed"
    assert call(sealed, "io.vaultd.records.Get", {"collection": "c", "id": "S-2"})["error"].endswith("Sealed")
    assert call(sealed, "io.vaultd.admin.Status")["parameters"]["state"] == "sealed"
    assert call(sealed, "io.vaultd.admin.Unseal", {"passphrase": PASS})["parameters"]["state"] == "serving"
    assert call(sealed, "io.vaultd.records.Get", {"collection": "c", "id": "S-2"})["parameters"]["data"] == body


def test_plain_key_cannot_be_sealed(vault):
    r = call(vault, "io.vaultd.admin.Seal")
    assert r["error"] == "io.vaultd.admin.InvalidParameter" and r["parameters"]["parameter"] == "key"
    assert call(vault, "io.vaultd.admin.Status")["parameters"]["state"] == "serving"


def test_copy_without_the_passphrase_reveals_nothing(sealed):
    secret = "CCCD 037090001234, STK 0123456789".encode()
    call(sealed, "io.vaultd.admin.Unseal", {"passphrase": PASS})
    call(sealed, "io.vaultd.records.Put", {"collection": "c", "id": "S-4",
                                           "data": base64.b64encode(secret).decode()})
    assert sealed.stop() == 0
    key = open(sealed.key, "rb").read()
    store = open(os.path.join(sealed.state, "data.mdb"), "rb").read()
    assert secret not in store and b"037090001234" not in store
    assert b"sealed" in key and len(key) < 512
    # Started from the copy without the passphrase, it serves nothing.
    sealed.start()
    r = call(sealed, "io.vaultd.records.Get", {"collection": "c", "id": "S-4"})
    assert r["error"] == "io.vaultd.records.Sealed"


def test_init_with_a_sealed_key_needs_the_passphrase(vault_dir):
    key, state = os.path.join(vault_dir, "k"), os.path.join(vault_dir, "s")
    pf = os.path.join(vault_dir, "p")
    open(pf, "w").write("pw\n")
    assert subprocess.run([VAULTD, "--generate-key", key, "--passphrase-file", pf]).returncode == 0
    r = subprocess.run([VAULTD, "--init", "--state-dir", state, "--key-file", key, "--user", "nobody"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "sealed by a passphrase" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(state, "data.mdb"))
    r = subprocess.run([VAULTD, "--init", "--state-dir", state, "--key-file", key, "--passphrase-file", pf,
                        "--user", "nobody"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_keeper_holds_keys_only_while_unsealed(sealed):
    from test_keeper import found_in_memory, keeper_pid, secrets
    keys = secrets(sealed, PASS)
    assert call(sealed, "io.vaultd.admin.Unseal", {"passphrase": PASS})["parameters"]["state"] == "serving"
    call(sealed, "io.vaultd.records.Put", {"collection": "c", "id": "S-5", "data": ""})
    assert found_in_memory(keeper_pid(sealed), keys) == set(keys)  # the scan sees them
    assert call(sealed, "io.vaultd.admin.Seal")["parameters"]["state"] == "sealed"
    assert not found_in_memory(keeper_pid(sealed), keys), "sealed, the keeper still holds keys"
    assert not found_in_memory(sealed.proc.pid, keys), "the worker holds keys"


def test_export_while_sealed_ends_at_the_last_checkpoint(sealed):
    """Sealed, the keeper signs nothing: an export ends at the last signed
    checkpoint, and verifies; the lines after it follow once unsealed."""
    call(sealed, "io.vaultd.records.Put", {"collection": "c", "id": "S-6", "data": ""})  # Sealed, audited
    path = os.path.join(sealed.root, "sealed-export.jsonl")
    r = sealed.ctl("audit", "export", "-o", path)
    assert r.returncode == 0, r.stderr
    assert sealed.ctl("audit", "verify", "--file", path).returncode == 0
    lines = audit_lines(open(path, "rb").read())
    assert lines and not any(e["op"] == "records.put" for e in lines)
    call(sealed, "io.vaultd.admin.Unseal", {"passphrase": PASS})
    later = audit_lines(sealed.export())
    assert any(e["op"] == "records.put" and e.get("error") == "Sealed" for e in later)


def test_a_passphrase_that_could_never_be_sent_is_refused(vault_dir):
    # vaultctl sends the passphrase as JSON text: one that is not UTF-8
    # would seal a key nothing could ever unseal.
    for i, raw in enumerate((b"abc\xff\xfe\n", b"x\xed\xa0\x80y\n", b"a\0b\n")):
        pf = os.path.join(vault_dir, "p%d" % i)
        open(pf, "wb").write(raw)
        key = os.path.join(vault_dir, "k%d" % i)
        r = subprocess.run([VAULTD, "--generate-key", key, "--passphrase-file", pf], capture_output=True, text=True)
        assert r.returncode == 1 and "not UTF-8 text" in r.stderr, r.stderr
        assert not os.path.exists(key)
