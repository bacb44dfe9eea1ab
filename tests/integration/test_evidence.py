"""The auditor's evidence (issue #11): every export ends with the checkpoint
signed when it was made; a cut-down, rolled-back, forked, spliced or edited
export does not verify (exit 3, with the reason); continuity from one audit
to the next (--state, --since-head); Windows line ends are harmless. All
through the real vaultd and vaultctl, on real exports."""
import base64
import hashlib
import json
import os

import pytest
from nacl.signing import SigningKey

import docclient
from conftest import Vault, vault_from_fixture

FIXTURE_KEY = ("vaultd/df77e760d68dca8d9f4bb2a1b7a44a9a+cf600adb+"
               "ARSxvFTLvxnlqUcMgdvlFKc+FJQkxLQ5FXWTXBi15xsY")


def fixture_vault(root):
    """The fixture vault (old checkpoints), started, with new lines."""
    v = vault_from_fixture(root, "evidence-vault")
    v.start()
    for i in range(3):
        put(v, "N-%d" % i)
    return v


def put(v, rid):
    v.ctl("put", "people", rid, "-", input=b"body " + rid.encode(), check=True)


def write(v, name, data):
    path = os.path.join(v.root, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def verify(v, data, *args, key=FIXTURE_KEY):
    path = write(v, "check-%s.jsonl" % hashlib.sha256(data).hexdigest()[:12], data)
    return v.ctl("audit", "verify", "--file", path, *(["--key", key] if key else []), *args, json_out=True)


def refused(r, words):
    assert r.returncode == 3, (r.returncode, r.stdout_text, r.stderr)
    text = r.stdout_text + r.stderr
    assert words in text, text


def parts(export):
    """header (dict), audit lines (bytes), checkpoint notes (str)."""
    raw = export.split(b"\n")[:-1]
    lines = [x for x in raw[1:] if not x.startswith(b'{"checkpoint":')]
    notes = [json.loads(x)["checkpoint"] for x in raw[1:] if x.startswith(b'{"checkpoint":')]
    return json.loads(raw[0]), lines, notes


def assemble(header, lines, notes):
    out = [json.dumps(header, separators=(",", ":")).encode()] + lines
    out += [json.dumps({"checkpoint": n}, separators=(",", ":"), ensure_ascii=False).encode() for n in notes]
    return b"\n".join(out) + b"\n"


def test_a_whole_export_verifies_and_names_its_signed_head(vault_dir):
    v = fixture_vault(vault_dir)
    try:
        export = v.export()
        r = verify(v, export)
        assert r.returncode == 0, r.stdout_text
        header, lines, notes = parts(export)
        last = docclient.parse_checkpoint(notes[-1])
        # The last checkpoint covers the last line, and carries the time it
        # was signed: the header's export time, to the second or so.
        assert last.size == header["last_seq"] + 1 == r.json["head_size"]
        assert "\nvaultd-time " in notes[-1]
        exported = header["exported"][:19] + "Z"
        assert abs(r.json["head_time"] - _epoch(exported)) <= 2
    finally:
        v.stop()


def _epoch(rfc3339):
    import calendar
    import time
    return calendar.timegm(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ"))


def test_tampered_exports_are_refused_with_the_reason(vault_dir):
    v = fixture_vault(vault_dir)
    try:
        export = v.export()
        header, lines, notes = parts(export)
        assert verify(v, export).returncode == 0
        # A flipped byte in an audit line.
        flipped = bytearray(export)
        at = export.index(b'"op":"records.put"') + 8
        flipped[at] ^= 0x01
        refused(verify(v, bytes(flipped)), "prev does not match")
        # A deleted line; two lines swapped.
        refused(verify(v, assemble(header, lines[:3] + lines[4:], notes)), "seq is")
        refused(verify(v, assemble(header, lines[:3] + [lines[4], lines[3]] + lines[5:], notes)), "seq is")
        # The tail cut off, header unchanged.
        refused(verify(v, assemble(header, lines[:-2], notes[:-1])), "export ends at seq")
        # The tail cut back to the fixture's (old) checkpoint, the header edited
        # to match: its newest checkpoint is older than the export says it is.
        old = [n for n in notes if docclient.parse_checkpoint(n).size <= 10]
        size = docclient.parse_checkpoint(old[-1]).size
        cut = dict(header, last_seq=size - 1)
        cutback = assemble(cut, lines[:size - header["first_seq"]], old)
        refused(verify(v, cutback), "does not match: an older export, or one cut back")
        # The verifier written only from the docs agrees, both ways.
        docclient.check_export_checkpoints(docclient.verify_export_chain(export), FIXTURE_KEY)
        with pytest.raises(docclient.ExportError):
            docclient.check_export_checkpoints(docclient.verify_export_chain(cutback), FIXTURE_KEY)
        # A line inserted, the chain after it recomputed: the signed
        # checkpoints no longer match.
        forged = [json.loads(x) for x in lines]
        forged.insert(5, dict(forged[4], id="FORGED"))
        prev = header["prev"]
        out = []
        for seq, entry in enumerate(forged, start=header["first_seq"]):
            entry = dict(entry, seq=seq, prev=prev)
            raw = json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode()
            prev = hashlib.sha256(raw).hexdigest()
            out.append(raw)
        refused(verify(v, assemble(dict(header, last_seq=header["last_seq"] + 1), out, notes)),
                "does not match its lines")
        # A checkpoint signed by another key of the same name.
        last = docclient.parse_checkpoint(notes[-1])
        other = SigningKey.generate()
        kid = hashlib.sha256(last.origin.encode() + b"\n\x01" + bytes(other.verify_key)).digest()[:4]
        sig = base64.b64encode(kid + other.sign(last.text.encode()).signature).decode()
        refused(verify(v, assemble(header, lines, notes[:-1] + [last.text + "\n\u2014 %s %s\n" % (last.origin, sig)])),
                "not signed by key")
        # A checkpoint whose signed time was edited.
        t = notes[-1].index("vaultd-time ") + len("vaultd-time 20")
        edited = notes[-1][:t] + ("9" if notes[-1][t] != "9" else "8") + notes[-1][t + 1:]
        refused(verify(v, assemble(header, lines, notes[:-1] + [edited])), "signature does not verify")
    finally:
        v.stop()


def test_another_vaults_checkpoint_spliced_in_is_refused(vault_dir):
    for d in ("a", "b"):
        os.makedirs(os.path.join(vault_dir, d))
        os.chmod(os.path.join(vault_dir, d), 0o755)
    v = fixture_vault(os.path.join(vault_dir, "a"))
    w = Vault(os.path.join(vault_dir, "b"))
    w.start()
    try:
        header, lines, notes = parts(v.export())
        _, _, theirs = parts(w.export())
        refused(verify(v, assemble(header, lines, notes[:-1] + theirs[-1:])), "not signed by key")
        # ... and with the other vault's key claimed in the header too.
        wkey = w.ctl("audit", "head", json_out=True).json["verifier_key"]
        refused(verify(v, assemble(dict(header, verifier_key=wkey), lines, notes[:-1] + theirs[-1:]), key=wkey),
                "not signed by key")
    finally:
        w.stop()
        v.stop()


def test_partial_exports_say_so_and_need_partial(vault_dir):
    v = fixture_vault(vault_dir)
    try:
        part = v.export("--to", "3")
        header, lines, notes = parts(part)
        # It ends with the newest checkpoint, beyond its last line.
        assert docclient.parse_checkpoint(notes[-1]).size > header["last_seq"] + 1
        refused(verify(v, part), "a part, not the whole trail")
        r = verify(v, part, "--partial")
        assert r.returncode == 0 and r.json["head_size"] > r.json["last_seq"] + 1, r.stdout_text
        text = v.ctl("audit", "verify", "--file", write(v, "part.jsonl", part), "--key", FIXTURE_KEY,
                     "--partial").stdout_text
        assert "part of the trail: when it was exported the vault held" in text
    finally:
        v.stop()


def test_windows_line_ends_and_a_trailing_blank_line_are_harmless(vault_dir):
    v = fixture_vault(vault_dir)
    try:
        export = v.export()
        crlf = export.replace(b"\n", b"\r\n") + b"\r\n"
        r = verify(v, crlf)
        assert r.returncode == 0 and r.json["crlf_lines"] == export.count(b"\n") + 1, r.stdout_text  # and the blank line
        text = v.ctl("audit", "verify", "--file", write(v, "crlf.jsonl", crlf), "--key", FIXTURE_KEY).stdout_text
        assert "ended in CR LF" in text
        # A blank line inside is not harmless: refused.
        header, lines, notes = parts(export)
        inside = export.replace(lines[2] + b"\n", lines[2] + b"\n\n", 1)
        refused(verify(v, inside), "blank line inside")
    finally:
        v.stop()


def test_continuity_with_a_state_file(vault_dir):
    v = fixture_vault(vault_dir)
    state = os.path.join(vault_dir, "audit.state")
    try:
        first = v.export()
        r = verify(v, first, "--state", state)
        assert r.returncode == 0 and not r.json["continues"], r.stdout_text
        saved = json.load(open(state))
        assert saved["seq"] == parts(first)[0]["last_seq"] and saved["origin"].startswith("vaultd/")
        # The tree of the lines verified: the next audit needs none of them.
        assert saved["size"] == saved["seq"] + 1 and saved["root"] == r.json["root"]
        assert oct(os.stat(state).st_mode & 0o777) == "0o600"
        put(v, "LATER-1")
        second = v.export()
        r = verify(v, second, "--state", state)
        assert r.returncode == 0 and r.json["continues"], r.stdout_text
        # The older export presented after the newer one: rolled back.
        refused(verify(v, first, "--state", state), "before the head verified last time")
        # The lines since the last audit alone continue it: the header's
        # tree before them gives the root verified last time.
        put(v, "LATER-2")
        saved = open(state).read()
        size = json.loads(saved)["size"]
        tail = v.export("--from", str(size))
        header, lines, notes = parts(tail)
        # Its header's tree edited: the signed roots no longer match.
        bad = dict(header, tree=[base64.b64encode(b"\1" * 32).decode()] + header["tree"][1:])
        refused(verify(v, assemble(bad, lines, notes), "--state", state), "does not match its lines")
        # A state that remembers another tree of those lines: a fork.
        open(state, "w").write(json.dumps(dict(json.loads(saved), root=base64.b64encode(b"\2" * 32).decode())))
        refused(verify(v, tail, "--state", state), "differs from the one verified last time")
        open(state, "w").write(saved)
        r = verify(v, tail, "--state", state)
        assert r.returncode == 0 and r.json["continues"] and r.json["first_seq"] == size, r.stdout_text
        # An export that starts after the remembered head proves nothing.
        put(v, "LATER-3")
        put(v, "LATER-4")
        tail = v.export("--from", str(json.load(open(state))["size"] + 1))
        refused(verify(v, tail, "--state", state), "cannot show the tree")
    finally:
        v.stop()


def test_a_fork_signed_by_the_same_key_breaks_continuity(vault_dir):
    """Two copies of one vault (a store copied, the same key file) go on on
    their own: each trail verifies against the vault's key, but the one the
    auditor did not see last time does not continue the state."""
    for d in ("a", "b"):
        os.makedirs(os.path.join(vault_dir, d))
        os.chmod(os.path.join(vault_dir, d), 0o755)
    state = os.path.join(vault_dir, "audit.state")
    a = fixture_vault(os.path.join(vault_dir, "a"))
    try:
        assert verify(a, a.export(), "--state", state).returncode == 0
    finally:
        a.stop()
    b = fixture_vault(os.path.join(vault_dir, "b"))
    try:
        for i in range(4):
            put(b, "FORK-%d" % i)
        before = open(state).read()
        other = b.export()
        assert verify(b, other).returncode == 0  # consistent in itself, the vault's own key
        refused(verify(b, other, "--state", state), "differs from the one verified last time")
        assert open(state).read() == before
    finally:
        b.stop()


def test_since_head_and_live_verification_against_a_key(vault_dir):
    v = fixture_vault(vault_dir)
    try:
        head = v.ctl("audit", "head").stdout_text
        written = [x.split()[1] for x in head.splitlines() if x.startswith("head:")][0]
        put(v, "AFTER-HEAD")
        r = verify(v, v.export(), "--since-head", written)
        assert r.returncode == 0 and r.json["continues"], r.stdout_text
        seq, digest = written.split(":")
        wrong = "%s:%s" % (seq, "0" * 64)
        refused(verify(v, v.export(), "--since-head", wrong), "differs from the one verified last time")
        # Without --file, --key makes vaultctl export the live trail and check it here.
        r = v.ctl("audit", "verify", "--key", FIXTURE_KEY, json_out=True)
        assert r.returncode == 0 and r.json["valid"], r.stdout_text
        other = FIXTURE_KEY.replace("+cf600adb+", "+00000000+")
        assert v.ctl("audit", "verify", "--key", other).returncode in (2, 3)
        r = v.ctl("audit", "verify", "--since-head", written, json_out=True)
        assert r.returncode == 0 and r.json["continues"], r.stdout_text
    finally:
        v.stop()
