"""Checkpoints are tlog checkpoints (issue #14 stage 3, docs/audit-format.md
"Checkpoints"): the third line of every checkpoint vaultd signs is the root
of the Merkle tree of its lines. Go's note package opens each one with the
verifier key, Go's tlog.CheckTree accepts vaultd's consistency proofs
between any two of them (roots taken from the signed notes), the verifier
written from the docs computes the same roots, and a store from before the
tree keeps its old checkpoints (the hash of the last line) up to one
switch, after which every checkpoint names the root. Continuity (--state)
then needs only the lines since the last audit."""
import base64
import json
import os
import shutil
import subprocess
import tempfile

import docclient
from conftest import go_tools, vault_from_fixture
from test_evidence import FIXTURE_KEY, parts, put

go = go_tools("gotlog", "gonote")


def go_opens(go, key, notes, workdir):
    """Go's note.Open verdict on each note under key."""
    paths = []
    for i, text in enumerate(notes):
        paths.append(os.path.join(workdir, "cp_%03d.note" % i))
        with open(paths[-1], "w", encoding="utf-8") as f:
            f.write(text)
    r = subprocess.run([go["gonote"], key] + paths, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [line.split()[1] for line in r.stdout.splitlines()]


def go_check_tree(go, rows):
    r = subprocess.run([go["gotlog"], "check"], input="".join(row + "\n" for row in rows), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.split("\n")[:-1]


def roots_of(export):
    """The docs' verifier on an export: its checkpoints, each with the
    root it computes, and the sizes of each form."""
    checked = docclient.verify_export_chain(export)
    cps = docclient.check_export_checkpoints(checked)
    return checked, cps


def consistency(vault, old, new):
    path = os.path.join(vault.root, "cons-%d-%d.proof" % (old, new))
    r = vault.ctl("audit", "consistency", str(old), str(new), "-o", path)
    assert r.returncode == 0, r.stderr
    with open(path) as f:
        return json.load(f)


def test_every_checkpoint_is_a_tlog_checkpoint(vault, go):
    key = vault.ctl("audit", "head", json_out=True, check=True).json["verifier_key"]
    for i in range(5):  # each export signs a checkpoint: several of them
        for j in range(i + 1):
            vault.ctl("put", "c", "R-%d-%d" % (i, j), "-", input=b"x", check=True)
        vault.export()
    export = vault.export()
    checked, cps = roots_of(export)
    notes = parts(export)[2]
    assert len(cps) >= 6 and checked.old_form == [] and checked.root_form == [cp.size for cp in cps]
    # Each names the root the docs' verifier computes, not its last line's hash.
    for cp in cps:
        tree = docclient.Frontier()
        for leaf in checked.leaves[:cp.size]:
            tree.append(leaf)
        assert cp.hash == tree.root() and cp.hash != checked.hashes[cp.size - 1]
    work = tempfile.mkdtemp(prefix="vaultd-cps-")
    try:
        assert go_opens(go, key, notes, work) == ["ok"] * len(notes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # vaultd's consistency proof between any two checkpoints, checked by Go
    # against the roots the signed notes name (not the proof file's).
    rows, bad = [], []
    pairs = [(a, b) for a in cps for b in cps if a.size < b.size]
    for a, b in pairs:
        proof = consistency(vault, a.size, b.size)
        assert proof["old_checkpoint"] in notes and proof["checkpoint"] in notes
        hashes = " ".join(proof["consistency"])
        ra, rb = base64.b64encode(a.hash).decode(), base64.b64encode(b.hash).decode()
        rows.append("cons %d %d %s %s %s" % (a.size, b.size, ra, rb, hashes))
        bad.append("cons %d %d %s %s %s" % (a.size, b.size, rb, ra, hashes))
        # vaultctl's own offline check agrees.
        r = vault.ctl("audit", "verify", "--proof", os.path.join(vault.root, "cons-%d-%d.proof" % (a.size, b.size)),
                      "--key", key, json_out=True)
        assert r.returncode == 0 and r.json["root_signed"] and r.json["old_root_signed"], r.stdout_text
    assert go_check_tree(go, rows) == ["ok"] * len(rows)
    assert all(v.startswith("reject") for v in go_check_tree(go, bad))


def test_a_store_from_before_the_tree_switches_once(vault_dir, go):
    """The fixture store was made before signed roots: its checkpoints name
    their last line's hash. Served again, the next checkpoint is its first
    to name the root, and every one after it does; every verifier accepts
    the mixed trail and says where the switch is."""
    v = vault_from_fixture(vault_dir, "evidence-vault")
    v.start()
    try:
        put(v, "AFTER-1")
        export = v.export()
        path = os.path.join(v.root, "mixed.jsonl")
        with open(path, "wb") as f:
            f.write(export)
        r = v.ctl("audit", "verify", "--file", path, "--key", FIXTURE_KEY, json_out=True)
        assert r.returncode == 0, r.stdout_text + r.stderr
        j = r.json
        assert j["old_form_checkpoints"] >= 1 and j["root_checkpoints"] >= 1, j
        assert j["root_first_size"] > j["old_form_last_size"] and j["root_signed"], j
        text = v.ctl("audit", "verify", "--file", path, "--key", FIXTURE_KEY).stdout_text
        assert "checkpoints up to size %d name the hash of their last line" % j["old_form_last_size"] in text
        # The docs' verifier sees the same switch.
        checked, cps = roots_of(export)
        assert checked.old_form and checked.root_form
        assert max(checked.old_form) == j["old_form_last_size"] and min(checked.root_form) == j["root_first_size"]
        # Go opens all of them, old and new form alike.
        work = tempfile.mkdtemp(prefix="vaultd-cps-")
        try:
            notes = parts(export)[2]
            assert go_opens(go, FIXTURE_KEY, notes, work) == ["ok"] * len(notes)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        # The online Verify accepts the upgraded store.
        r = v.ctl("audit", "verify")
        assert r.returncode == 0, r.stderr
    finally:
        v.stop()
    # Restarted, the keeper's floor is a root-signed checkpoint now.
    v.start()
    try:
        put(v, "AFTER-2")
        path = os.path.join(v.root, "again.jsonl")
        with open(path, "wb") as f:
            f.write(v.export())
        r = v.ctl("audit", "verify", "--file", path, "--key", FIXTURE_KEY, json_out=True)
        assert r.returncode == 0 and r.json["root_checkpoints"] > j["root_checkpoints"], r.stdout_text
        assert r.json["old_form_last_size"] == j["old_form_last_size"]
    finally:
        v.stop()


def test_live_continuity_exports_only_the_new_lines(vault):
    key = vault.ctl("audit", "head", json_out=True, check=True).json["verifier_key"]
    state = os.path.join(vault.root, "audit.state")
    vault.ctl("put", "c", "one", "-", input=b"x", check=True)
    r = vault.ctl("audit", "verify", "--key", key, "--state", state, json_out=True)
    assert r.returncode == 0 and r.json["first_seq"] == 0 and not r.json["continues"], r.stdout_text
    size = json.load(open(state))["size"]
    vault.ctl("put", "c", "two", "-", input=b"x", check=True)
    r = vault.ctl("audit", "verify", "--key", key, "--state", state, json_out=True)
    assert r.returncode == 0 and r.json["continues"], r.stdout_text
    assert r.json["first_seq"] == size and r.json["root_signed"], r.json
    assert json.load(open(state))["size"] == r.json["last_seq"] + 1
