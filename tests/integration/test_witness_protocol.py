"""Witnessing end to end (issue #14; docs/audit-format.md "Witnesses"): a
test witness that follows c2sp.org/tlog-witness, built on Go's note and
tlog packages (tests/witness/gowitness), cosigns a vault's checkpoints
one after another as vaultctl audit witness-request asks, and the replies
go back through vaultctl audit cosign import; it refuses a request whose
old size is not the one it cosigned last (409, naming it) and a history
that does not extend what it saw (422). A split view, two forked copies
of one vault that each verify on their own, fails the consistency check
against each other and against the witnessed checkpoint."""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest
from nacl.signing import SigningKey

from conftest import REPO, Vault, go_tools
from test_evidence import parts, put
from test_tlog_checkpoints import go_check_tree

go = go_tools("gowitness", "gotlog")


class Witness:
    """gowitness serving on 127.0.0.1 for the logs of the given keys."""

    def __init__(self, exe, root, name, *log_keys):
        self.exe, self.name = exe, name
        seed = os.path.join(root, name.replace("/", "_") + ".seed")
        self.state = seed + ".state"
        self.vkey = subprocess.run([exe, "keygen", name, seed], capture_output=True, text=True,
                                   check=True).stdout.strip()
        self.proc = subprocess.Popen([exe, "serve", name, seed, self.state, *log_keys], stdout=subprocess.PIPE,
                                     text=True)
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.url

    def post(self, body):
        """add-checkpoint: (HTTP status, content type, body)."""
        req = urllib.request.Request(self.url + "/add-checkpoint", data=body.encode(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers.get("Content-Type"), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read().decode()

    def holds(self, origin):
        with open(self.state) as f:
            return json.load(f)[origin]

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def witnesses(go, vault_dir):
    started = []

    def start(name, *log_keys):
        started.append(Witness(go["gowitness"], vault_dir, name, *log_keys))
        return started[-1]
    yield start
    for w in started:
        w.stop()


def log_key(name):
    """The verifier key of another log (c2sp.org/signed-note, type 0x01)."""
    pub = bytes(SigningKey.generate().verify_key)
    kid = hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4]
    return "%s+%s+%s" % (name, kid.hex(), base64.b64encode(b"\x01" + pub).decode())


def head(vault):
    return vault.ctl("audit", "head", json_out=True, check=True).json


def checkpoint_size(vault):
    """Signs a checkpoint (an export does) and returns its size."""
    return int(parts(vault.export())[2][-1].split("\n")[1])


def witness_round(vault, witness, since, *args):
    """What a poster does: request, post, import the reply. Returns the
    witness's status and body."""
    r = vault.ctl("audit", "witness-request", "--since", str(since), *args)
    assert r.returncode == 0, r.stderr
    status, ctype, reply = witness.post(r.stdout_text)
    if status == 200:
        imp = vault.ctl("audit", "cosign", "import", "-", input=r.stdout_text + reply, json_out=True)
        assert imp.returncode == 0 and imp.json["added"] == 1, imp.stderr
    return status, ctype, reply


def verify(vault, name, export, *args):
    path = os.path.join(vault.root, name)
    with open(path, "wb") as f:
        f.write(export)
    return vault.ctl("audit", "verify", "--file", path, *args)


def go_verdicts(go, workdir, note, *keys):
    path = os.path.join(workdir, "cosigned.note")
    with open(path, "w", encoding="utf-8") as f:
        f.write(note)
    r = subprocess.run([go["gowitness"], "verify", path, *keys], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [line.split(" ", 1)[1] for line in r.stdout.splitlines()]


def test_a_witness_cosigns_each_checkpoint_that_extends_the_last(vault, witnesses, go):
    h = head(vault)
    w = witnesses("witness.ministry.example/w1", h["verifier_key"])
    sizes, last = [], 0
    for i in range(4):
        for j in range(i + 2):
            put(vault, "R-%d-%d" % (i, j))
        size = checkpoint_size(vault)
        status, _, reply = witness_round(vault, w, last)
        assert status == 200 and reply.startswith("\u2014 witness.ministry.example/w1 "), (status, reply)
        assert w.holds(h["origin"])["size"] == size
        sizes.append(size)
        last = size
    # An old size that is not the one it holds: 409, text/x.tlog.size, and
    # the size it holds, from which the poster asks again.
    put(vault, "late")
    checkpoint_size(vault)
    status, ctype, reply = witness_round(vault, w, sizes[1])
    assert (status, ctype, reply) == (409, "text/x.tlog.size", "%d\n" % last)
    status, _, _ = witness_round(vault, w, int(reply))
    assert status == 200
    # Every export carries them; Go's note.Open verifies each with the
    # witness's key, and vaultctl agrees with a quorum of one.
    export = vault.export()
    cosigned = [n for n in parts(export)[2] if "witness.ministry.example/w1" in n]
    assert [int(n.split("\n")[1]) for n in cosigned] == sizes + [w.holds(h["origin"])["size"]]
    for note in cosigned:
        assert go_verdicts(go, vault.root, note, w.vkey) == ["ok"]
    # A cosignature with one bit of its signature flipped: Go refuses it.
    body, _, line = cosigned[0][:-1].rpartition("\n")
    prefix, _, b64 = line.rpartition(" ")
    blob = bytearray(base64.b64decode(b64))
    blob[-1] ^= 1
    forged = "%s\n%s %s\n" % (body, prefix, base64.b64encode(bytes(blob)).decode())
    assert go_verdicts(go, vault.root, forged, w.vkey) == ["invalid-signature"]
    size = w.holds(h["origin"])["size"]
    part = vault.export("--to-seq", str(size - 1))
    r = verify(vault, "part.jsonl", part, "--partial", "--key", h["verifier_key"], "--witness", w.vkey)
    assert r.returncode == 0 and "cosigned the checkpoint of size %d" % size in r.stdout_text, r.stderr


def test_witness_refuses_what_it_cannot_cosign(vault, witnesses):
    h = head(vault)
    w = witnesses("w.example/w", h["verifier_key"])
    stranger = witnesses("other.example/w", log_key("example.com/log"))
    put(vault, "A")
    size = checkpoint_size(vault)
    r = vault.ctl("audit", "witness-request", "--since", "0", check=True)
    body = r.stdout_text
    assert stranger.post(body)[0] == 404  # a log it does not follow
    assert w.post(body.replace("\n%d\n" % size, "\n%d\n" % (size + 1), 1))[0] == 403  # text not signed
    assert w.post("old %d\n\n" % (size + 1) + body.split("\n\n", 1)[1])[0] == 400  # old above size
    assert w.post("old 1\n\n" + body.split("\n\n", 1)[1])[:3] == (409, "text/x.tlog.size", "0\n")
    assert w.post(body)[0] == 200
    put(vault, "B")
    size2 = checkpoint_size(vault)
    r = vault.ctl("audit", "witness-request", "--since", str(size), check=True)
    head_, _, cp = r.stdout_text.partition("\n\n")
    proof = head_.split("\n")[1:]
    # A proof that does not lead from what it saw: 422, and it stays put.
    bad = "old %d\n%s\n\n%s" % (size, "\n".join(proof[::-1] if len(proof) > 1 else
                                                 [base64.b64encode(b"\0" * 32).decode()]), cp)
    assert w.post(bad)[0] == 422
    assert w.holds(h["origin"])["size"] == size
    assert w.post(r.stdout_text)[0] == 200 and w.holds(h["origin"])["size"] == size2


def fork(vault, root):
    """A second vault from a copy of vault's stopped state directory and
    key, with its own socket and log (not started)."""
    v = Vault.__new__(Vault)
    v.root, v.state = root, os.path.join(root, "state")
    v.key, v.policy = os.path.join(root, "root.key"), os.path.join(root, "vaultd.policy")
    v.sock, v.log = os.path.join(root, "vaultd.sock"), os.path.join(root, "vaultd.log")
    v.extra_args, v.proc = list(vault.extra_args), None
    os.mkdir(root, 0o755)
    subprocess.run(["cp", "-a", vault.state, v.state], check=True)
    subprocess.run(["cp", "-a", vault.key, v.key], check=True)
    shutil.copy(vault.policy, v.policy)
    return v


def test_a_split_view_is_caught(vault, witnesses, go):
    h = head(vault)
    origin, key = h["origin"], h["verifier_key"]
    w = witnesses("witness.ministry.example/w1", key)
    for i in range(3):
        put(vault, "common-%d" % i)
    common = checkpoint_size(vault)
    assert witness_round(vault, w, 0)[0] == 200
    # The operator keeps two copies of the vault and serves both.
    vault.stop()
    other = fork(vault, os.path.join(vault.root, "fork"))
    vault.start()
    other.start()
    try:
        for i in range(3):
            put(vault, "shown-to-the-auditor-%d" % i)
        for i in range(6):
            put(other, "shown-to-the-inspector-%d" % i)
        size_a, size_b = checkpoint_size(vault), checkpoint_size(other)
        assert size_b > size_a > common
        # Each copy verifies on its own, against the same key.
        export_a, export_b = vault.export(), other.export()
        state = os.path.join(vault.root, "audit.state")
        assert verify(vault, "a.jsonl", export_a, "--key", key, "--state", state).returncode == 0
        assert verify(other, "b.jsonl", export_b, "--key", key).returncode == 0
        # Against each other: B does not extend the tree A's audit saw ...
        r = verify(other, "b.jsonl", export_b, "--key", key, "--state", state)
        assert r.returncode == 3 and "a fork" in r.stderr, r.stderr
        # ... and B's consistency proof from that size, checked by Go's tlog
        # against the root A signed there, fails (against B's own, it holds).
        size_a = json.load(open(state))["size"]
        proof_b = json.loads(other.ctl("audit", "consistency", str(size_a), str(size_b), check=True).stdout)
        proof_a = json.loads(vault.ctl("audit", "consistency", str(common), str(size_a), check=True).stdout)
        root_a, root_b, own = proof_a["root"], proof_b["root"], proof_b["old_root"]
        assert root_a != own
        rows = ["cons %d %d %s %s %s" % (size_a, size_b, r0, root_b, " ".join(proof_b["consistency"]))
                for r0 in (root_a, own)]
        verdicts = go_check_tree(go, rows)
        assert verdicts[0].startswith("reject") and verdicts[1] == "ok", verdicts
        # Against a witnessed checkpoint: the witness cosigns A's history ...
        assert witness_round(vault, w, common)[0] == 200
        held = w.holds(origin)["size"]
        # ... and refuses B's: from the size it cosigned before, 409 and
        # the size it holds; from that size, B's proof does not verify.
        status, _, reply = witness_round(other, w, common)
        assert (status, reply) == (409, "%d\n" % held)
        # B signed no checkpoint of that size: vaultctl says what that means
        # and sends nothing ...
        r = other.ctl("audit", "witness-request", "--since", str(held))
        assert r.returncode == 3 and "saw another history" in r.stderr, r.stderr
        # ... and a request made by hand from B's own tree does not pass.
        size_b = checkpoint_size(other)
        assert size_b > held
        proof = json.loads(other.ctl("audit", "consistency", str(held), str(size_b), check=True).stdout)
        body = "old %d\n%s\n%s" % (held, "".join(h + "\n" for h in proof["consistency"]), proof["checkpoint"])
        assert w.post(body)[0] == 422
        assert w.holds(origin)["size"] == held
        # A's cosigned checkpoint is not one B signed: B will not take it.
        cosigned_a = [n for n in parts(vault.export())[2] if "witness.ministry.example/w1" in n][-1]
        r = other.ctl("audit", "cosign", "import", "-", input=cosigned_a)
        assert r.returncode == 1 and "UnknownCheckpoint" in r.stderr, r.stderr
        # So no export of B passes the witness, and one of A does.
        r = verify(other, "b2.jsonl", other.export(), "--key", key, "--witness", w.vkey)
        assert r.returncode == 3 and "cosigned by 0 of the witnesses given" in r.stderr, r.stderr
        part_a = vault.export("--to-seq", str(held - 1))
        r = verify(vault, "a2.jsonl", part_a, "--partial", "--key", key, "--witness", w.vkey)
        assert r.returncode == 0, r.stderr
    finally:
        other.stop()


def test_quorum_of_two_witnesses(vault, witnesses):
    h = head(vault)
    w1 = witnesses("w1.example/w", h["verifier_key"])
    w2 = witnesses("w2.example/w", h["verifier_key"])
    w3 = witnesses("w3.example/w", h["verifier_key"])
    put(vault, "A")
    size = checkpoint_size(vault)
    for w in (w1, w2):
        assert witness_round(vault, w, 0)[0] == 200
    part = vault.export("--to-seq", str(size - 1))
    keys = ["--witness", w1.vkey, "--witness", w2.vkey, "--witness", w3.vkey]
    r = verify(vault, "p.jsonl", part, "--partial", *keys, "--quorum", "2")
    assert r.returncode == 0, r.stderr
    r = verify(vault, "p.jsonl", part, "--partial", *keys)
    assert r.returncode == 3 and "cosigned by 2 of the witnesses given, 3 needed" in r.stderr, r.stderr


POSTER = os.path.join(REPO, "packaging", "witness", "vaultd-witness-post")
# The poster's account, as vaultd-witness-post.service makes it: a uid of
# its own whose one grant is the cosigner role, through a supplementary
# group (vaultd-witness in the packaged policy).
POSTER_UID, POSTER_GID = 4646, 4545


def test_the_poster_script_keeps_witnesses_in_step(vault, witnesses):
    from conftest import BUILD, DEFAULT_POLICY, audit_lines
    vault.write_policy(DEFAULT_POLICY + "allow group %d role cosigner\n" % POSTER_GID)
    assert vault.ctl("policy", "reload").returncode == 0
    h = head(vault)
    w1 = witnesses("w1.example/w", h["verifier_key"])
    w2 = witnesses("w2.example/w", h["verifier_key"])
    state = os.path.join(vault.root, "poster-state")
    os.mkdir(state)
    os.chown(state, POSTER_UID, POSTER_UID)
    env = dict(os.environ, PATH=BUILD + ":" + os.environ["PATH"], VAULTD_SOCKET=vault.sock,
               VAULTD_WITNESSES="w1=%s w2=%s" % (w1.url, w2.url), VAULTD_WITNESS_STATE=state,
               VAULTD_WITNESS_HTTP="yes", VAULTD_VERIFIER_KEY=h["verifier_key"], HOME="/nonexistent")

    def run():
        return subprocess.run(["setpriv", "--reuid", str(POSTER_UID), "--regid", str(POSTER_UID), "--groups",
                               str(POSTER_GID), "sh", POSTER], env=env, capture_output=True, text=True, timeout=60)
    for i in range(3):
        put(vault, "P-%d" % i)
        size = checkpoint_size(vault)
        r = run()
        assert r.returncode == 0, r.stderr
        assert "w1 cosigned the checkpoint of size %d" % size in r.stdout, r.stdout
        assert w1.holds(h["origin"])["size"] == w2.holds(h["origin"])["size"] == size
    # Its memory lost: the witness's 409 names the size, and it goes on.
    with open(os.path.join(state, "w1"), "w") as f:
        f.write("0\n")
    put(vault, "P-last")
    size = checkpoint_size(vault)
    r = run()
    assert r.returncode == 0 and w1.holds(h["origin"])["size"] == size, r.stderr
    part = vault.export("--to-seq", str(size - 1))
    r = verify(vault, "p.jsonl", part, "--partial", "--witness", w1.vkey, "--witness", w2.vkey)
    assert r.returncode == 0, r.stderr
    # Plain http is refused unless allowed (tests only).
    del env["VAULTD_WITNESS_HTTP"]
    r = run()
    assert r.returncode == 1 and "cannot reach" in r.stderr, r.stderr
    # It did all of that as a cosigner: consistency proofs and cosignatures,
    # nothing denied, nothing else asked.
    mine = [e for e in audit_lines(vault.export()) if e["actor"]["uid"] == POSTER_UID]
    assert {e["op"] for e in mine} == {"audit.prove", "audit.add-cosignatures"}, mine
    assert all(e["result"] == "ok" and e["actor"]["role"] == "cosigner" for e in mine), mine
    assert all("old_size" in e for e in mine if e["op"] == "audit.prove"), mine
