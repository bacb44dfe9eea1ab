"""lib/merkle.c against Go's golang.org/x/mod/sumdb/tlog, proof by proof.

The audit trail's Merkle tree (docs/audit-format.md) must be the one of
RFC 6962 as Go's canonical package builds it, so that anyone's tlog tools
check vaultd's proofs. Here both build a tree of the same leaves, C through
$BUILD/merkle/merkle-proofs (merkle_append into stored hashes, then
merkle_root and merkle_prove_*), Go through tests/merkle/gotlog
(tlog.StoredHashes, TreeHash, ProveRecord, ProveTree; built offline from
Debian's golang-golang-x-mod-dev), and answer the same queries: every
inclusion and consistency proof of the small trees, a sample of the larger
ones. The answers (roots and proofs) must be the same bytes. Then each
side's verifier (merkle_verify_*, tlog.CheckRecord / CheckTree) judges the
proofs and tampered copies of them: both accept every genuine proof and
reject every tampered one. A missing Go toolchain or package is a failure,
not a skip.
"""
import base64
import os
import random
import shutil
import subprocess
import tempfile

import pytest

from conftest import BUILD, go_tools

MERKLE_PROOFS = os.path.join(BUILD, "merkle", "merkle-proofs")
LEAVES = 1100
SMALL = 40  # every proof of every tree up to this size
LARGE = [63, 64, 65, 127, 128, 129, 255, 256, 257, 500, 511, 512, 513, 1000, 1024, 1025, LEAVES]

go = go_tools("gotlog")


def run(cmd, stdin=None):
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, "%s exit %d:\n%s" % (os.path.basename(cmd[0]), r.returncode, r.stderr[-2000:])
    return r.stdout


@pytest.fixture(scope="module")
def work(go):
    out = tempfile.mkdtemp(prefix="vaultd-merkle-")
    try:
        assert os.access(MERKLE_PROOFS, os.X_OK), "make %s first" % MERKLE_PROOFS
        rng = random.Random(6962)
        leaves = os.path.join(out, "leaves")
        with open(leaves, "w") as f:
            for i in range(LEAVES):
                # Lines like the trail's, and an empty one.
                f.write("" if i == 5 else '{"seq":%d,"op":"records.put","n":%d}' % (i, rng.randrange(1 << 30)))
                f.write("\n")
        queries = []
        for size in range(1, SMALL + 1):
            queries += ["incl %d %d" % (size, i) for i in range(size)]
            queries += ["cons %d %d" % (old, size) for old in range(1, size + 1)]
        for size in LARGE:
            queries += ["incl %d %d" % (size, i) for i in sorted({0, 1, size // 2, size - 2, size - 1,
                                                                 rng.randrange(size)})]
            queries += ["cons %d %d" % (old, size) for old in sorted({1, 2, 3, size // 3, size - 1, size,
                                                                     rng.randrange(1, size + 1)})]
        qpath = os.path.join(out, "queries")
        with open(qpath, "w") as f:
            f.write("\n".join(queries) + "\n")
        yield {"gotlog": go["gotlog"], "leaves": leaves, "queries": qpath, "count": len(queries)}
    finally:
        shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="module")
def answers(work):
    c = run([MERKLE_PROOFS, "prove", work["leaves"], work["queries"]]).splitlines()
    go = run([work["gotlog"], "prove", work["leaves"], work["queries"]]).splitlines()
    assert len(go) == work["count"]
    return c, go


def test_roots_and_proofs_are_gos(answers):
    c, go = answers
    assert len(c) == len(go)
    differ = [(a, b) for a, b in zip(c, go) if a != b]
    assert not differ, "first of %d differences:\nC:  %s\nGo: %s" % (len(differ), differ[0][0], differ[0][1])


def flip(h, bit):
    b = bytearray(base64.b64decode(h))
    b[bit // 8 % 32] ^= 1 << (bit % 8)
    return base64.b64encode(bytes(b)).decode()


def tampered(line, rng):
    """Copies of one answer that no verifier may accept, with what was done."""
    f = line.split(" ")
    kind, a, b, h0, h1, proof = f[0], int(f[1]), int(f[2]), f[3], f[4], f[5:]
    out = []

    def mk(what, a2=a, b2=b, x0=h0, x1=h1, p=proof):
        out.append((what, " ".join([kind, str(a2), str(b2), x0, x1] + p)))

    mk("first hash changed", x0=flip(h0, rng.randrange(256)))
    mk("root changed", x1=flip(h1, rng.randrange(256)))
    if proof:
        i = rng.randrange(len(proof))
        mk("proof hash %d changed" % i, p=proof[:i] + [flip(proof[i], rng.randrange(256))] + proof[i + 1:])
        mk("proof cut short", p=proof[:-1])
        if proof != proof[::-1]:
            mk("proof reversed", p=proof[::-1])
    mk("hash added", p=proof + [h1])
    if kind == "incl" and a > 1:
        mk("another leaf index", b2=b ^ 1 if b ^ 1 < a else b - 1)
    if kind == "cons" and a < b:
        mk("roots swapped", x0=h1, x1=h0)
    return out


def test_verifiers_agree_on_genuine_and_tampered_proofs(work, answers):
    c, _ = answers
    rng = random.Random(9162)
    genuine = c
    bad = []
    for line in c:
        bad += tampered(line, rng)
    text = "\n".join(genuine + [t for _, t in bad]) + "\n"
    c_verdicts = run([MERKLE_PROOFS, "check"], stdin=text).splitlines()
    go_verdicts = run([work["gotlog"], "check"], stdin=text).splitlines()
    n = len(genuine)
    assert len(c_verdicts) == len(go_verdicts) == n + len(bad)
    assert all(v == "ok" for v in go_verdicts[:n]), "Go rejects a proof of lib/merkle.c"
    assert all(v == "ok" for v in c_verdicts[:n]), "lib/merkle.c rejects its own proof"
    for (what, t), cv, gv in zip(bad, c_verdicts[n:], go_verdicts[n:]):
        assert gv.startswith("reject"), "Go accepts %s: %s" % (what, t)
        assert cv.startswith("reject"), "lib/merkle.c accepts %s (Go: %s): %s" % (what, gv, t)
    assert len(bad) > 10000
