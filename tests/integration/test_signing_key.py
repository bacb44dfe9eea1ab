"""Audit signing-key rotation (vaultctl audit rotate-key), through the real
daemon: the hand-over checkpoint is signed by the old and the new key and
names the new one; exports that span it verify from the old key (vaultctl,
and the doc-written verifier in docclient.py); forged hand-overs are
refused; the hand-over survives restarts and kill -9."""
import json
import threading

import docclient
from conftest import Client, Vault, audit_lines


def head(vault):
    return vault.ctl("audit", "head", json_out=True, check=True).json


def rotate(vault):
    r = vault.ctl("audit", "rotate-key", json_out=True, check=True)
    return r.json["verifier_key"], r.json["previous"]


def verify_file(vault, data, key=None):
    path = "%s/check-%d.jsonl" % (vault.root, len(data))
    with open(path, "wb") as f:
        f.write(data)
    args = ["audit", "verify", "--file", path] + (["--key", key] if key else [])
    return vault.ctl(*args, json_out=True)


def checkpoints(export):
    return [json.loads(raw)["checkpoint"] for raw in export.split(b"\n")
            if raw.startswith(b'{"checkpoint":')]


def put(vault, rid):
    vault.ctl("put", "c", rid, "-", input=b"body " + rid.encode(), check=True)


def test_rotation_hands_over_through_a_cosigned_checkpoint(vault):
    old = head(vault)["verifier_key"]
    put(vault, "A")
    new, previous = rotate(vault)
    assert previous == old and new != old and new.startswith(head(vault)["origin"] + "+")
    after = head(vault)
    # The reply comes after the hand-over checkpoint: Head names the new key
    # and its checkpoint is signed by both.
    assert after["verifier_key"] == new
    cp = docclient.parse_checkpoint(after["checkpoint"])
    assert cp.next_key == new and len(cp.signatures) == 2
    assert docclient.signed_by(cp, old) and docclient.signed_by(cp, new)
    put(vault, "B")
    export = vault.export()
    # Verified from the old key (the one an auditor wrote down at creation)...
    r = verify_file(vault, export, old)
    assert r.returncode == 0, r.stderr
    assert r.json["key_changes"] == 1 and r.json["last_key"] == new
    # ...by the doc-written verifier too, which ends on the new key...
    checked = docclient.verify_export_chain(export)
    docclient.check_export_checkpoints(checked, verifier_key=old)
    assert checked.final_key == new
    # ...and the live trail verifies (it follows the hand-over from line 0's key).
    vault.ctl("audit", "verify", check=True)
    # Checkpoints after the hand-over are signed by the new key alone.
    last = docclient.parse_checkpoint(checkpoints(export)[-1])
    assert last.next_key is None and len(last.signatures) == 1 and docclient.signed_by(last, new)
    # The trail records the rotation, with no key material.
    line = [e for e in audit_lines(export) if e["op"] == "admin.rotate-signing-key"]
    assert len(line) == 1 and line[0]["verifier_key"] == new and line[0]["previous"] == old
    assert set(line[0]) <= {"seq", "time", "actor", "op", "verifier_key", "previous", "result", "prev"}


def test_export_after_the_handover_names_the_new_key(vault):
    old = head(vault)["verifier_key"]
    new, _ = rotate(vault)
    put(vault, "A")
    start = head(vault)["lines"]
    put(vault, "B")
    tail = vault.export("--from", str(start))
    assert json.loads(tail.split(b"\n")[0])["verifier_key"] == new
    assert verify_file(vault, tail, new).returncode == 0
    r = verify_file(vault, tail, old)
    assert r.returncode == 3 and "starts after a signing-key change" in r.stdout_text, r.stdout_text


def forge(export, index, edit):
    """The export with checkpoint number index replaced by edit(note)."""
    out, n = [], 0
    for raw in export.split(b"\n"):
        if raw.startswith(b'{"checkpoint":'):
            if n == index:
                raw = json.dumps({"checkpoint": edit(json.loads(raw)["checkpoint"])},
                                 separators=(",", ":"), ensure_ascii=False).encode()
            n += 1
        out.append(raw)
    return b"\n".join(out)


def drop_signature(note, key):
    name, kid, _ = docclient.parse_verifier_key(key)
    text, _, sigs = note.rpartition("\n\n")
    kept = [s for s in sigs.split("\n")[:-1]
            if docclient.base64.b64decode(s.rpartition(" ")[2])[:4] != kid]
    return text + "\n\n" + "".join(s + "\n" for s in kept)


def test_forged_handovers_are_refused(vault):
    old = head(vault)["verifier_key"]
    new, _ = rotate(vault)
    put(vault, "A")
    export = vault.export()
    notes = checkpoints(export)
    i = next(n for n, note in enumerate(notes) if "vaultd-next-key" in note)
    assert verify_file(vault, export, old).returncode == 0
    # Signed by the new key only: a verifier that trusts the old one refuses it.
    r = verify_file(vault, forge(export, i, lambda n: drop_signature(n, old)), old)
    assert r.returncode == 3 and "not signed by key" in r.stdout_text, r.stdout_text
    # Names the new key but lacks its signature: no hand-over.
    r = verify_file(vault, forge(export, i, lambda n: drop_signature(n, new)), old)
    assert r.returncode == 3 and "not signed by it" in r.stdout_text, r.stdout_text
    # A hand-over to an attacker's key, grafted onto a genuine checkpoint,
    # breaks the old key's signature over the text.
    evil = docclient.parse_verifier_key(new)[0] + "+00000000+" + new.rsplit("+", 1)[1]
    r = verify_file(vault, forge(export, i, lambda n: n.replace(new, evil, 1)), old)
    assert r.returncode == 3
    # Without the hand-over checkpoint, later ones (new key only) are refused.
    r = verify_file(vault, forge(export, i, lambda n: drop_signature(n, new).replace(
        "vaultd-next-key " + new + "\n", "")), old)
    assert r.returncode == 3


def test_rotation_survives_restart_and_a_second_rotation(vault_dir):
    v = Vault(vault_dir)
    v.start()
    try:
        first = head(v)["verifier_key"]
        put(v, "A")
        second, _ = rotate(v)
        v.stop()
        v.start()  # the keeper checks the floor: the hand-over checkpoint, signed by the new key
        assert head(v)["verifier_key"] == second
        put(v, "B")
        third, previous = rotate(v)
        assert previous == second and third not in (first, second)
        put(v, "C")
        export = v.export()
        r = verify_file(v, export, first)
        assert r.returncode == 0, r.stderr
        assert r.json["key_changes"] == 2 and r.json["last_key"] == third
        v.ctl("audit", "verify", check=True)
    finally:
        v.stop()


def test_rotation_under_load_and_kill9(vault_dir):
    """Writers keep going through a rotation; a kill -9 right after it loses
    nothing acknowledged, and the trail verifies from the first key."""
    v = Vault(vault_dir)
    v.start()
    first = head(v)["verifier_key"]
    errors = []

    def writer(n):
        try:
            c = Client(v.sock)
            c.put_many("c", 300, 10 + n)
            c.close()
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    new, _ = rotate(v)
    for t in threads:
        t.join()
    assert not errors, errors
    lines = head(v)["lines"]
    v.kill9()
    v.start()
    try:
        assert head(v)["lines"] >= lines
        assert head(v)["verifier_key"] == new
        r = verify_file(v, v.export(), first)
        assert r.returncode == 0 and r.json["key_changes"] == 1, r.stderr
        v.ctl("audit", "verify", check=True)
    finally:
        v.stop()


def test_rotation_needs_the_admin_role(vault):
    before = head(vault)["verifier_key"]
    r = vault.ctl("audit", "rotate-key", uid=65534)
    assert r.returncode == 5, r.stderr
    assert head(vault)["verifier_key"] == before
    ops = [(e["op"], e["result"]) for e in audit_lines(vault.export())]
    assert ("admin.rotate-signing-key", "denied") in ops


PASS = "mật khẩu kiểm toán"


def sealed_vault(vault_dir):
    pf = "%s/pass" % vault_dir
    with open(pf, "w") as f:
        f.write(PASS + "\n")
    return Vault(vault_dir, key_args=["--passphrase-file", pf])


def unseal(v):
    r = Client(v.sock).call("io.vaultd.admin.Unseal", {"passphrase": PASS})
    assert "error" not in r, r


def rotate_and_seal(v, first):
    """RotateSigningKey and Seal in one writer batch (sent in one write; the
    writer may still split them, so until the hand-over is seen pending,
    unseal and try again). Returns the new key, the vault sealed with the
    hand-over not yet made."""
    raw = b"".join(json.dumps({"method": m, "parameters": {}}).encode() + b"\0"
                   for m in ("io.vaultd.admin.RotateSigningKey", "io.vaultd.admin.Seal"))
    for _ in range(20):
        c = Client(v.sock)
        c.send(None, raw=raw)
        rotated, sealed = c.recv(), c.recv()
        c.close()
        assert "error" not in rotated and "error" not in sealed, (rotated, sealed)
        if head(v)["verifier_key"] == first:
            return rotated["parameters"]["verifier_key"]
        first = head(v)["verifier_key"]  # handed over in a batch of its own: again
        unseal(v)
    raise AssertionError("RotateSigningKey and Seal never shared a batch")


def test_rotation_then_seal_in_one_batch_completes_at_unseal(vault_dir):
    """A rotation whose batch also seals the vault (or a restart before its
    hand-over) must not leave the worker and the keeper disagreeing about
    the hand-over: it completes once the vault is unsealed, and the trail
    still verifies from the first key."""
    v = sealed_vault(vault_dir)
    v.start()
    try:
        unseal(v)
        first = head(v)["verifier_key"]
        put(v, "A")
        new = rotate_and_seal(v, first)
        c = Client(v.sock)
        again = c.call("io.vaultd.admin.RotateSigningKey")
        assert again.get("error") == "io.vaultd.admin.Sealed", again
        c.close()
        unseal(v)
        put(v, "B")
        r = verify_file(v, v.export(), first)  # the export's checkpoint is the hand-over
        assert r.returncode == 0, r.stdout_text
        assert r.json["last_key"] == new and head(v)["verifier_key"] == new
        v.ctl("audit", "verify", check=True)
        v.stop()
        # A sealed restart with the hand-over stored: the keeper takes it as its floor.
        v.start()
        unseal(v)
        put(v, "C")
        r = verify_file(v, v.export(), first)
        assert r.returncode == 0 and r.json["last_key"] == new, r.stdout_text
        v.ctl("audit", "verify", check=True)
    finally:
        v.stop()


def test_second_rotation_waits_for_the_first_hand_over(vault_dir):
    v = sealed_vault(vault_dir)
    v.start()
    try:
        unseal(v)
        new = rotate_and_seal(v, head(v)["verifier_key"])
        v.stop()
        v.start()
        unseal(v)  # the next key is stored and co-signs; no checkpoint since
        r = Client(v.sock).call("io.vaultd.admin.RotateSigningKey")
        assert r.get("error") == "io.vaultd.admin.InvalidParameter", r
        assert "under way" in r["parameters"]["reason"]
        v.export()  # its checkpoint completes the hand-over
        assert head(v)["verifier_key"] == new
        r = Client(v.sock).call("io.vaultd.admin.RotateSigningKey")
        assert "error" not in r and r["parameters"]["previous"] == new, r
    finally:
        v.stop()


def test_rotation_pending_across_a_sealed_restart(vault_dir):
    v = sealed_vault(vault_dir)
    v.start()
    try:
        unseal(v)
        first = head(v)["verifier_key"]
        new = rotate_and_seal(v, first)
        v.stop()
        v.start()  # sealed, with the next key stored and no hand-over yet
        unseal(v)
        put(v, "A")
        r = verify_file(v, v.export(), first)  # the export's checkpoint is the hand-over
        assert r.returncode == 0 and r.json["key_changes"] >= 1 and r.json["last_key"] == new, r.stdout_text
        assert head(v)["verifier_key"] == new
        v.ctl("audit", "verify", check=True)
    finally:
        v.stop()


def test_backup_of_a_rotated_vault_verifies_from_the_first_key(vault):
    first = head(vault)["verifier_key"]
    put(vault, "A")
    new, _ = rotate(vault)
    put(vault, "B")
    path = vault.root + "/rotated.backup"
    vault.ctl("backup", path, check=True)
    r = vault.ctl("backup", "verify", path, "--key", first)
    assert r.returncode == 0, r.stdout_text + r.stderr
    r = vault.ctl("backup", "verify", path, "--key", new)
    assert r.returncode == 3, r.stdout_text + r.stderr
