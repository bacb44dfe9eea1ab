"""Witnesses (issue #14; docs/audit-format.md "Witnesses"): vaultctl audit
witness-request writes a c2sp.org/tlog-witness add-checkpoint body whose
proof Go's tlog accepts; vaultctl audit cosign import
(io.vaultd.audit.AddCosignatures) stores cosignatures of a checkpoint the
vault signed and refuses malformed ones and ones of checkpoints it did not
sign; exports and proofs carry them, and verifiers from before them still
verify such exports."""
import json
import os
import time

import docclient
from cosigners import Cosigner, cosigned, note_text
from test_evidence import parts, put


def request(vault, since, *args):
    """witness-request's body, split: old size, proof lines, checkpoint."""
    r = vault.ctl("audit", "witness-request", "--since", str(since), *args)
    assert r.returncode == 0, r.stderr
    head, _, note = r.stdout_text.partition("\n\n")
    old, *proof = head.split("\n")
    assert old == "old %d" % since
    return r.stdout_text, proof, note


def newest(vault):
    """A fresh checkpoint (every export signs one) and its size."""
    notes = parts(vault.export())[2]
    return notes[-1], int(notes[-1].split("\n")[1])


def import_note(vault, text, *args):
    path = os.path.join(vault.root, "cosigned-%d.txt" % len(os.listdir(vault.root)))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return vault.ctl("audit", "cosign", "import", path, *args, json_out=True)


def audit_ops(vault, op):
    _, lines, _ = parts(vault.export())
    return [json.loads(x) for x in lines if json.loads(x)["op"] == op]


def test_request_body_is_old_size_proof_and_checkpoint(vault):
    put(vault, "A")
    note1, size1 = newest(vault)
    body, proof, note = request(vault, 0)
    # From size 0 no proof, then the newest checkpoint as vaultd signed it.
    assert proof == [] and body.startswith("old 0\n\n") and note == note1
    put(vault, "B")
    note2, size2 = newest(vault)
    body, proof, note = request(vault, size1)
    assert note == note2 and len(proof) >= 1
    # The same proof as Prove gives, and the checkpoint is unchanged.
    r = vault.ctl("audit", "consistency", str(size1), str(size2), json_out=False)
    assert json.loads(r.stdout)["consistency"] == proof
    # A size the vault never signed a checkpoint at is refused here.
    r = vault.ctl("audit", "witness-request", "--since", str(size1 + 1))
    assert r.returncode == 3 and "signed no checkpoint of size %d" % (size1 + 1) in r.stderr
    r = vault.ctl("audit", "witness-request")
    assert r.returncode == 2 and "--since" in r.stderr
    # With the vault's key the answer is checked first; another key refuses.
    r = vault.ctl("audit", "witness-request", "--since", str(size1), "--key",
                  "vaultd/x+00000000+AQ" + "A" * 42 + "=")
    assert r.returncode == 3, r.stderr


def test_cosignatures_stored_and_carried_by_exports(vault):
    w1, w2 = Cosigner("witness.example/w1"), Cosigner("ministry.example/w2")
    put(vault, "A")
    note, size = newest(vault)
    body, _, _ = request(vault, 0, "--size", str(size))
    # The request with the witness's reply appended, as a poster saves it.
    r = import_note(vault, body + w1.line(note_text(note)))
    assert r.returncode == 0, r.stderr
    assert r.json == {"size": size, "added": 1, "ignored": 0, "unchanged": 0}
    r = import_note(vault, cosigned(note, w1.line(note_text(note), when=1), w2.line(note_text(note))))
    assert r.returncode == 1 and "dated 1, before the checkpoint was signed" in r.stdout_text
    line2 = w2.line(note_text(note))
    r = import_note(vault, cosigned(note, line2))
    assert r.json == {"size": size, "added": 1, "ignored": 0, "unchanged": 0}
    r = import_note(vault, cosigned(note, line2))
    assert r.json["unchanged"] == 1 and r.json["added"] == 0
    # Another cosignature in the same witness's name never replaces the one
    # stored: vaultd cannot tell a newer one from a forged one.
    r = import_note(vault, cosigned(note, w1.line(note_text(note), when=int(time.time()) + 5)))
    assert r.json == {"size": size, "added": 0, "ignored": 1, "unchanged": 0}
    # Every export carries them on that checkpoint, after the vault's own
    # signature; the verifiers from before cosignatures are content.
    export = vault.export()
    notes = parts(export)[2]
    mine = [n for n in notes if n.startswith(note_text(note) + "\n")]
    assert len(mine) == 1 and mine[0].startswith(note)
    assert mine[0].count("\u2014 witness.example/w1 ") == 1 and mine[0].count("\u2014 ministry.example/w2 ") == 1
    checked = docclient.check_export_checkpoints(export)
    cp = [c for c in checked if c.size == size][0]
    # The verifier written from the docs checks them with the witnesses' keys.
    assert docclient.cosignature(cp, w1.vkey) and docclient.cosignature(cp, w2.vkey)
    assert docclient.cosignature(cp, Cosigner("witness.example/w1").vkey) is None
    path = os.path.join(vault.root, "cosigned.jsonl")
    with open(path, "wb") as f:
        f.write(export)
    assert vault.ctl("audit", "verify", "--file", path).returncode == 0
    # So do proofs against that checkpoint.
    r = vault.ctl("audit", "prove", "--seq", "0", "--size", str(size))
    assert r.returncode == 0 and "ministry.example/w2" in json.loads(r.stdout)["checkpoint"]
    # Each call is audited, with the witnesses' names.
    lines = audit_ops(vault, "audit.add-cosignatures")
    assert [x["result"] for x in lines] == ["ok", "error", "ok", "ok", "ok"]
    assert lines[0]["size"] == size and lines[0]["witnesses"] == ["witness.example/w1"]


def test_malformed_or_unknown_checkpoints_refused(vault):
    w = Cosigner("witness.example/w1")
    put(vault, "A")
    note, size = newest(vault)
    text = note_text(note)
    lines = text.split("\n")
    other_root = "\n".join([lines[0], lines[1], "A" * 43 + "=", *lines[3:]])
    cases = [
        # The vault signed no checkpoint of that size.
        (cosigned(note.replace("\n%d\n" % size, "\n%d\n" % (size + 1), 1), w.line(text)), "UnknownCheckpoint",
         "no checkpoint of that size"),
        # Another root at that size: another history.
        (other_root + "\n" + note.rpartition("\n\n")[2] + w.line(other_root), "UnknownCheckpoint", "another text"),
        # Another log's checkpoint.
        (cosigned(note.replace(lines[0], "example.com/log"), w.line(text)), "UnknownCheckpoint", "another log"),
        # A plain Ed25519 note signature, not a cosignature/v1.
        (cosigned(note, "\u2014 witness.example/w1 " + note.rpartition(" ")[2]), "InvalidParameter",
         "not a cosignature/v1"),
        (cosigned(note, w.line(text, when=2 ** 40)), "InvalidParameter", "in the future"),
        (cosigned(note, w.line(text), w.line(text)), "InvalidParameter", "two cosignatures"),
        (cosigned(note, w.line(text).replace("witness.example/w1", lines[0])), "InvalidParameter",
         "vault's own name"),
        (note, "InvalidParameter", "no cosignature"),
        (text + w.line(text), "InvalidParameter", "no signature block"),
        (cosigned(note, "junk\n"), "InvalidParameter", "malformed signature line"),
    ]
    for text_in, error, reason in cases:
        r = import_note(vault, text_in)
        assert r.returncode == 1, (reason, r.stdout_text)
        assert json.loads(r.stdout)["error"].endswith("." + error) and reason in r.stdout_text, (reason, r.stdout_text)
    # Nothing of it was kept.
    assert all("witness.example" not in n for n in parts(vault.export())[2])


def test_auditor_may_import_service_may_not(vault):
    from conftest import NOBODY
    vault.write_policy("allow user root role admin,auditor\nallow user root role service collections *\n"
                       "allow user nobody role service collections *\n")
    assert vault.ctl("policy", "reload").returncode == 0
    put(vault, "A")
    note, _ = newest(vault)
    path = os.path.join(vault.root, "c.txt")
    with open(path, "w") as f:
        f.write(cosigned(note, Cosigner("w.example/x").line(note_text(note))))
    os.chmod(path, 0o644)
    r = vault.ctl("audit", "cosign", "import", path, uid=NOBODY)
    assert r.returncode == 5, r.stderr


def save(vault, name, data):
    path = os.path.join(vault.root, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def verify(vault, *args):
    return vault.ctl("audit", "verify", *args)


def test_quorum_of_valid_cosignatures_from_distinct_witnesses(vault):
    key = vault.ctl("audit", "head", json_out=True, check=True).json["verifier_key"]
    w1, w2, w3 = Cosigner("w1.example/w"), Cosigner("w2.example/w"), Cosigner("w3.example/w")
    put(vault, "A")
    note, size = newest(vault)
    for w in (w1, w2):
        assert import_note(vault, cosigned(note, w.line(note_text(note)))).returncode == 0
    # w3's line is forged: vaultd keeps it (it holds no witness key) ...
    assert import_note(vault, cosigned(note, w3.line(note_text(note), forge=True))).returncode == 0
    put(vault, "B")
    # ... an export that ends at the cosigned checkpoint.
    part = save(vault, "part.jsonl", vault.export("--to-seq", str(size - 1)))
    ok = verify(vault, "--file", part, "--partial", "--key", key, "--witness", w1.vkey, "--witness", w2.vkey)
    assert ok.returncode == 0, ok.stderr
    assert "witness w1.example/w cosigned the checkpoint of size %d" % size in ok.stdout_text
    assert "witness w2.example/w cosigned" in ok.stdout_text
    r = verify(vault, "--file", part, "--partial", "--witness", w1.vkey, "--witness", w3.vkey, "--quorum", "1",
               "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["witnessed_size"] == size and got["quorum"] == 1 and got["cosigned"] == 1
    assert [(w["name"], w["cosignature"]) for w in got["witnesses"]] == [("w1.example/w", "ok"),
                                                                         ("w3.example/w", "invalid")]
    # Too few: a forged one does not count, a missing one neither.
    w4 = Cosigner("w4.example/w")
    for keys, says in (([w1, w3], "w3.example/w: its cosignature of the checkpoint of size %d does NOT verify"
                        % size),
                       ([w1, w4], "w4.example/w: no cosignature"),
                       ([w1, w2, w4], "cosigned by 2 of the witnesses given, 3 needed")):
        args = [x for w in keys for x in ("--witness", w.vkey)]
        r = verify(vault, "--file", part, "--partial", "--key", key, *args)
        assert r.returncode == 3 and says in r.stderr, r.stderr
        assert "OK" not in r.stdout_text
    r = verify(vault, "--file", part, "--partial", "--witness", w1.vkey, "--witness", w2.vkey, "--witness",
               w4.vkey, "--quorum", "2")
    assert r.returncode == 0, r.stderr
    # The docs' verifier agrees on each.
    cp = [c for c in docclient.check_export_checkpoints(open(part, "rb").read(), partial=True) if c.size == size][0]
    assert docclient.cosignature(cp, w1.vkey) and docclient.cosignature(cp, w4.vkey) is None
    try:
        docclient.cosignature(cp, w3.vkey)
        raise AssertionError("the docs' verifier accepts a forged cosignature")
    except docclient.ExportError:
        pass
    # The whole trail ends at a checkpoint no witness saw yet: refused,
    # naming the one that is cosigned.
    whole = save(vault, "whole.jsonl", vault.export())
    r = verify(vault, "--file", whole, "--witness", w1.vkey, "--witness", w2.vkey)
    assert r.returncode == 3 and "the checkpoint of size %d is cosigned by enough" % size in r.stderr, r.stderr
    # Live: exported here, so the same verdict.
    r = verify(vault, "--key", key, "--witness", w1.vkey)
    assert r.returncode == 3 and "cosigned by 0 of the witnesses given" in r.stderr, r.stderr
    # A proof against the cosigned checkpoint carries its cosignatures.
    proof = os.path.join(vault.root, "line0.proof")
    assert vault.ctl("audit", "prove", "--seq", "0", "--size", str(size), "-o", proof).returncode == 0
    r = verify(vault, "--proof", proof, "--key", key, "--witness", w1.vkey, "--witness", w2.vkey)
    assert r.returncode == 0 and "witness w2.example/w cosigned" in r.stdout_text, r.stderr
    r = verify(vault, "--proof", proof, "--key", key, "--witness", w3.vkey)
    assert r.returncode == 3 and "does NOT verify" in r.stderr, r.stderr
    later = os.path.join(vault.root, "later.proof")
    assert vault.ctl("audit", "prove", "--seq", "0", "-o", later).returncode == 0
    r = verify(vault, "--proof", later, "--key", key, "--witness", w1.vkey)
    assert r.returncode == 3 and "cosigned by 0" in r.stderr, r.stderr


def test_witness_options_checked(vault):
    w1 = Cosigner("w1.example/w")
    key = vault.ctl("audit", "head", json_out=True, check=True).json["verifier_key"]
    for args, says in ((["--quorum", "1"], "--quorum N needs the witnesses' keys"),
                       (["--witness", w1.vkey, "--quorum", "2"], "more witnesses than the 1 given"),
                       (["--witness", w1.vkey, "--quorum", "0"], "1 or more"),
                       (["--witness", w1.vkey, "--witness", w1.vkey], "given twice"),
                       (["--witness", key], "type 0x04")):
        r = verify(vault, "--file", "/nonexistent", *args)
        assert r.returncode == 2 and says in r.stderr, (args, r.stderr)


def test_a_vault_given_its_witnesses_keeps_only_their_valid_cosignatures(vault_dir):
    """Without witness keys vaultd keeps the first cosignature in a
    witness's name, so whoever imports a forged one first blocks the
    genuine one. Given the witnesses it trusts (a file beside the policy,
    or --witnesses), it refuses a forged one and a stranger's."""
    from conftest import Vault

    w1, w2 = Cosigner("witness.example/w1"), Cosigner("ministry.example/w2")
    vault = Vault(vault_dir)
    vault.start()
    # Before the vault knows its witnesses, a forged cosignature in w1's
    # name is stored first, and the genuine one is then ignored.
    put(vault, "A")
    note, size = newest(vault)
    text = note_text(note)
    assert import_note(vault, cosigned(note, w1.line(text, forge=True))).json["added"] == 1
    assert import_note(vault, cosigned(note, w1.line(text))).json["ignored"] == 1
    vault.stop()
    with open(os.path.join(vault_dir, "witnesses"), "w") as f:
        f.write("# the witnesses of this vault\n\n%s\n" % w1.vkey)
    vault.start()
    try:
        assert "from the 1 witness of" in vault.read_log()
        # Given its witnesses, it replaces that forged one by the genuine.
        r = import_note(vault, cosigned(note, w1.line(text)))
        assert r.returncode == 0 and r.json["added"] == 1, r.stdout_text
        put(vault, "B")
        note, size = newest(vault)
        text = note_text(note)
        r = import_note(vault, cosigned(note, w1.line(text, forge=True)))
        assert r.returncode == 1 and "does not verify against that witness's key" in r.stdout_text
        r = import_note(vault, cosigned(note, w2.line(text)))
        assert r.returncode == 1 and "none of its cosignatures is by a witness this vault" in r.stdout_text
        # A stranger's beside a witness's: the stranger's is ignored.
        r = import_note(vault, cosigned(note, w1.line(text), w2.line(text)))
        assert r.returncode == 0 and (r.json["added"], r.json["ignored"]) == (1, 1), r.stdout_text
        cp = [n for n in parts(vault.export())[2] if "\n%d\n" % size in n][0]
        assert w1.name in cp and w2.name not in cp
        path = os.path.join(vault.root, "cosigned.jsonl")
        with open(path, "wb") as f:
            f.write(vault.export("--to-seq", str(size - 1)))
        r = vault.ctl("audit", "verify", "--file", path, "--partial", "--witness", w1.vkey)
        assert r.returncode == 0, r.stdout_text + r.stderr
    finally:
        assert vault.stop() in (0, None), vault.read_log()
    # A file that names no witness is said so.
    with open(os.path.join(vault_dir, "witnesses"), "w") as f:
        f.write("# none yet\n")
    vault.start()
    vault.stop()
    assert "names no witness: cosignatures are checked for their shape only" in vault.read_log()
    # A witnesses file vaultd cannot use stops it, naming the line.
    path = os.path.join(vault_dir, "bad-witnesses")
    with open(path, "w") as f:
        f.write("%s\nnot-a-key\n" % w1.vkey)
    vault.extra_args = ["--witnesses", path]
    proc = vault.start(wait=False)
    assert proc.wait(timeout=20) != 0
    assert "witnesses file %s rejected: line 2: not a witness key" % path in vault.read_log()
    vault.extra_args = ["--witnesses", os.path.join(vault_dir, "missing")]
    assert vault.start(wait=False).wait(timeout=20) != 0
    assert "cannot read the witnesses file" in vault.read_log()
    vault.proc = None
