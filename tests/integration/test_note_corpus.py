"""lib/note.c against Go's golang.org/x/mod/sumdb/note, note by note.

vaultd's checkpoints are C2SP signed notes, and lib/note.c means to give
the verdicts Go's package gives on the same bytes. Here both judge the same
corpus (tests/notes/corpus.py: valid and broken notes with real Ed25519
signatures from fixed seeds, written at test time) with the same verifier
key: Go through tests/notes/gonote (Go's note.Open, built offline from
Debian's golang-golang-x-mod-dev), C through $BUILD/notes/note-verdict
(note_parse, then note_check). Each prints ok, malformed,
invalid-signature or unverified per note.

Every case must get from Go the verdict the corpus expects (so a case tests
the rule it is named after), and from C the same verdict as from Go, except
for the disagreements listed in KNOWN, which are pinned to exactly what
each side says. A missing Go toolchain or package is a failure, not a skip.
"""
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from conftest import BUILD, REPO, go_tools

NOTES = os.path.join(REPO, "tests", "notes")
sys.path.insert(0, NOTES)
import corpus  # noqa: E402  (tests/notes/corpus.py)

NOTE_VERDICT = os.path.join(BUILD, "notes", "note-verdict")
CASES = corpus.cases()

# Where lib/note.c and Go's package disagree on purpose: case -> (Go's
# verdict, lib/note.c's verdict). Both reject, or the note is one that only
# the key's holder can make.
KNOWN = {
    # Go checks signature lines one at a time and reports the first problem;
    # note_parse rejects a malformed signature block before any signature
    # is checked. Rejected either way, for a different reason.
    "order_bad_signature_then_junk": ("invalid-signature", "malformed"),
    "order_bad_signature_then_101_lines": ("invalid-signature", "malformed"),
    # R = identity, S = k·a: Go's crypto/ed25519 accepts it (the bare
    # equation), libsodium refuses small-order R. Making such a signature
    # takes the secret key; the vault's keeper never does.
    "ed25519_identity_r": ("ok", "invalid-signature"),
}


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=120)
    return r


def judge(program, vkey, paths):
    """{case: (verdict, the whole output line)} from one program."""
    r = run([program, vkey] + paths)
    assert r.returncode == 0, "%s exit %d:\n%s%s" % (os.path.basename(program), r.returncode, r.stdout,
                                                    r.stderr)
    out = {}
    for line in r.stdout.splitlines():
        name, verdict = line.split(" ")[:2]
        out[name] = (verdict, line)
    assert len(out) == len(paths), r.stdout
    return out


go = go_tools("gonote")


@pytest.fixture(scope="module")
def verdicts(go):
    """{case: (expected, Go's verdict, C's verdict, C's line)}"""
    if not os.access(NOTE_VERDICT, os.X_OK):
        pytest.fail("no %s: `make check` builds it" % NOTE_VERDICT, pytrace=False)
    d = tempfile.mkdtemp(prefix="vaultd-notes-")
    try:
        rows = corpus.write(d)
        by_key = collections.defaultdict(list)
        for name, vkey, expected, path in rows:
            by_key[vkey].append(path)
        by_go, by_c = {}, {}
        for vkey, paths in by_key.items():
            by_go.update(judge(go["gonote"], vkey, paths))
            by_c.update(judge(NOTE_VERDICT, vkey, paths))
        return {name: (expected, by_go[name][0], by_c[name][0], by_c[name][1]) for name, _, expected, _ in rows}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_corpus_is_broad():
    """Enough cases, of every verdict, with distinct names."""
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) >= 60
    count = collections.Counter(c[2] for c in CASES)
    for verdict in (corpus.OK, corpus.MALFORMED, corpus.INVALID, corpus.UNVERIFIED):
        assert count[verdict] >= 5, count
    for name in KNOWN:
        assert name in names


def test_corpus_is_deterministic():
    """The same seeds make the same bytes (Ed25519 signing is deterministic)."""
    assert [c[3] for c in corpus.cases()] == [c[3] for c in CASES]


@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_note_case(verdicts, case):
    expected, go, c, line = verdicts[case]
    assert go == expected, "Go says %s where the corpus expects %s: the case does not test what it says" % (
        go, expected)
    want = KNOWN[case][1] if case in KNOWN else go
    assert c == want, "Go says %s, lib/note.c says %s; note-verdict: %s" % (go, c, line)


def test_go_and_c_agree_on_every_case(verdicts):
    """One list of every disagreement, by case name (KNOWN apart)."""
    differ = ["%s: Go %s, lib/note.c %s" % (name, v[1], v[2]) for name, v in sorted(verdicts.items())
              if v[1] != v[2] and name not in KNOWN]
    assert not differ, "\n".join(differ)
    for name, (go, c) in KNOWN.items():
        assert verdicts[name][1:3] == (go, c), "known disagreement %s changed: %s" % (name, verdicts[name])


def test_vaultd_checkpoints_open_alike(vault, go):
    """Real checkpoints, a signing-key hand-over among them: Go's package
    and lib/note.c give each the same verdict under the old and the new key,
    and each is signed by the key in force (both keys for the hand-over)."""
    old = vault.ctl("audit", "head", json_out=True, check=True).json["verifier_key"]
    vault.ctl("put", "c", "a", "-", input=b"one", check=True)
    new = vault.ctl("audit", "rotate-key", json_out=True, check=True).json["verifier_key"]
    vault.ctl("put", "c", "b", "-", input=b"two", check=True)
    notes = [json.loads(raw)["checkpoint"] for raw in vault.export().split(b"\n")
             if raw.startswith(b'{"checkpoint":')]
    assert len(notes) >= 3
    d = tempfile.mkdtemp(prefix="vaultd-notes-")
    try:
        paths = []
        for i, text in enumerate(notes):
            paths.append(os.path.join(d, "checkpoint_%02d.note" % i))
            with open(paths[-1], "w", encoding="utf-8") as f:
                f.write(text)
        seen = {}
        for key in (old, new):
            by_go, by_c = judge(go["gonote"], key, paths), judge(NOTE_VERDICT, key, paths)
            assert {n: v[0] for n, v in by_go.items()} == {n: v[0] for n, v in by_c.items()}, (by_go, by_c)
            seen[key] = [by_go["checkpoint_%02d" % i][0] for i in range(len(paths))]
    finally:
        shutil.rmtree(d, ignore_errors=True)
    handover = [i for i, text in enumerate(notes) if "\nvaultd-next-key " + new + "\n" in text]
    assert len(handover) == 1, notes
    h = handover[0]
    for i in range(len(notes)):
        want_old = "ok" if i <= h else "unverified"
        want_new = "ok" if i >= h else "unverified"
        assert (seen[old][i], seen[new][i]) == (want_old, want_new), (i, h, notes[i])
