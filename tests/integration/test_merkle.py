"""The audit trail's Merkle tree in the vault (issue #14, docs/audit-format.md
"The tree"): `vaultctl audit prove` and `audit consistency` against a real
daemon, their proof files checked offline by `audit verify --proof` and by
Go's tlog package (tests/merkle/gotlog), tampered files refused, and a
store made before the tree gets it built at start-up."""
import base64
import hashlib
import json
import os
import subprocess

from conftest import go_tools, vault_from_fixture
from test_integrity import data_pairs, dump, load

go = go_tools("gotlog")


def vkey(vault):
    return vault.ctl("audit", "head", json_out=True, check=True).json["verifier_key"]


def prove(vault, *args):
    path = os.path.join(vault.root, "p-%d.proof" % len(os.listdir(vault.root)))
    r = vault.ctl("audit", *args, "-o", path)
    assert r.returncode == 0, r.stderr
    with open(path) as f:
        return path, json.load(f)


def verify(vault, path, key):
    return vault.ctl("audit", "verify", "--proof", path, "--key", key)


def go_check(go, proof):
    """Go's tlog.CheckRecord / CheckTree on a proof file's proofs."""
    rows = ["incl %d %d %s %s %s" % (proof["size"], e["seq"], leaf_b64(e["line"]), proof["root"],
                                     " ".join(e["inclusion"])) for e in proof.get("lines", [])]
    if "old_size" in proof:
        rows.append("cons %d %d %s %s %s" % (proof["old_size"], proof["size"], proof["old_root"], proof["root"],
                                             " ".join(proof["consistency"])))
    r = subprocess.run([go["gotlog"], "check"], input="\n".join(r.strip() for r in rows) + "\n", capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.split("\n")[:-1]


def leaf_b64(line):
    return base64.b64encode(hashlib.sha256(b"\0" + line.encode()).digest()).decode()


def rewrite(path, proof):
    with open(path, "w") as f:
        json.dump(proof, f)


def test_line_and_record_proofs_verify_here_and_in_go(vault, go):
    for i in range(3):
        vault.ctl("put", "dossiers", "NB-1", "-", input=b"v%d" % i, check=True)
        vault.ctl("put", "dossiers", "NB-%d" % (i + 2), "-", input=b"x", check=True)
    vault.ctl("delete", "dossiers", "NB-1", check=True)
    key = vkey(vault)  # its line is signed by the checkpoint Export makes
    vault.export()
    path, proof = prove(vault, "prove", "--seq", "3")
    assert proof["format"] == "vaultd-audit-proof/1" and proof["checkpoint"]
    assert [e["seq"] for e in proof["lines"]] == [3] and json.loads(proof["lines"][0]["line"])["seq"] == 3
    r = verify(vault, path, key)
    assert r.returncode == 0 and "1 line included" in r.stdout_text, r.stderr + r.stdout_text
    # A signed root is said so, and nothing else (it once also printed the
    # note meant for a checkpoint of the old form).
    assert "the root is signed" in r.stdout_text and "names the hash of the last" not in r.stdout_text
    assert go_check(go, proof) == ["ok"]

    # A dossier's history: the lines that wrote each of its versions (3
    # puts and the delete), a few kilobytes.
    path, proof = prove(vault, "prove", "--record", "dossiers", "NB-1")
    ops = [(json.loads(e["line"])["op"], json.loads(e["line"])["version"]) for e in proof["lines"]]
    assert ops == [("records.put", 1), ("records.put", 2), ("records.put", 3), ("records.delete", 4)]
    assert os.path.getsize(path) < 8192
    r = verify(vault, path, key)
    assert r.returncode == 0 and "4 lines included" in r.stdout_text, r.stderr
    assert go_check(go, proof) == ["ok"] * 4

    # A line changed in the file, or its proof: both verifiers refuse.
    proof["lines"][1]["line"] = proof["lines"][1]["line"].replace('"version":2', '"version":5')
    rewrite(path, proof)
    r = verify(vault, path, key)
    assert r.returncode == 3 and "is not in the tree" in r.stderr, r.stderr
    assert go_check(go, proof)[1].startswith("reject")


def test_consistency_proof_and_a_rewritten_history(vault, go):
    for i in range(20):
        vault.ctl("put", "c", "R-%d" % i, "-", input=b"x", check=True)
    key = vkey(vault)
    vault.export()
    size = vault.ctl("audit", "head", json_out=True, check=True).json["lines"]
    path, proof = prove(vault, "consistency", "7", str(size - 1))
    r = verify(vault, path, key)
    assert r.returncode == 0 and "extends the tree of 7 lines" in r.stdout_text, r.stderr
    assert go_check(go, proof) == ["ok"]
    # Another old root: a history rewritten before line 7.
    proof["old_root"] = proof["root"]
    rewrite(path, proof)
    r = verify(vault, path, key)
    assert r.returncode == 3 and "not an extension" in r.stderr
    assert go_check(go, proof)[0].startswith("reject")


def test_prove_refuses_what_it_cannot_prove(vault):
    r = vault.ctl("audit", "prove", "--seq", "100000")
    assert r.returncode == 1 and "InvalidParameter" in r.stderr
    r = vault.ctl("audit", "prove")
    assert r.returncode == 2
    r = vault.ctl("audit", "consistency", "0", "1")
    assert r.returncode == 1 and "old_size" in r.stderr


def tree_pairs(state):
    lines = dump(state, "tree")
    return lines, data_pairs(lines)


def test_old_store_gets_its_tree_at_start(vault_dir, go):
    v = vault_from_fixture(vault_dir, "store-format1")
    v.start()
    try:
        assert "built the audit trail's Merkle tree" in v.read_log(), v.read_log()
        key = vkey(v)
        v.export()
        path, proof = prove(v, "prove", "--record", "people", "P-1")
        assert len(proof["lines"]) == 3
        assert verify(v, path, key).returncode == 0
        assert go_check(go, proof) == ["ok"] * 3
        first_root = proof["root"]
    finally:
        v.stop()
    # Once: the next start finds the tree complete, and the same root.
    v.start()
    try:
        assert v.read_log().count("built the audit trail's Merkle tree") == 1
        _, again = prove(v, "prove", "--seq", "0", "--size", str(proof["size"]))
        assert again["root"] == first_root
    finally:
        v.stop()


def stored_index(level, index):
    """Go tlog's StoredHashIndex: where the tree table keeps a hash."""
    for _ in range(level):
        index = 2 * index + 1
    i = 0
    while index:
        i += index
        index >>= 1
    return i + level


def test_tree_is_stored_in_append_order(vault):
    """The table's keys are tlog's stored-hash numbering, so each append
    writes at its end: for n leaves, exactly the keys 0 .. count(n) - 1."""
    for i in range(5):
        vault.ctl("put", "c", "R-%d" % i, "-", input=b"x", check=True)
    vault.stop()
    lines, pairs = tree_pairs(vault.state)
    keys = [int(lines[k].strip(), 16) for k, _ in pairs]
    assert keys == list(range(len(keys)))
    leaves = sum(1 for n in range(10 ** 4) if stored_index(0, n) in keys)
    assert keys[-1] >= stored_index(0, leaves - 1) and leaves >= 6
    vault.start()


def test_tree_longer_than_the_trail_is_refused(vault):
    vault.ctl("put", "c", "R-1", "-", input=b"x", check=True)
    vault.stop()
    # The next leaf's hash, beyond the trail's end: the tree is not this
    # trail's.
    lines, pairs = tree_pairs(vault.state)
    last = int(lines[pairs[-1][0]].strip(), 16)
    leaves = next(n for n in range(1, 10 ** 4) if stored_index(0, n) > last)
    k, v = pairs[-1]
    lines[v + 1:v + 1] = [" " + stored_index(0, leaves).to_bytes(8, "big").hex(), lines[v]]
    load(vault.state, "tree", lines)
    p = vault.start(wait=False)
    assert p.wait(timeout=20) == 1
    assert "damaged" in vault.read_log()
    vault.proc = None
