"""An independent vaultd client written only from docs/protocol.md,
docs/audit-format.md and the docs/*.varlink interface files.

Standard library only (socket, json, base64, hashlib), plus PyNaCl for the
Ed25519 signature check, so that it doubles as proof that the documentation
is enough to talk to vaultd and to check its audit exports.

Wire format (docs/protocol.md, "Framing"): every message in both directions
is one UTF-8 JSON object followed by a single NUL byte.
"""
import base64
import calendar
import hashlib
import json
import socket
import time

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

RECORDS = "io.vaultd.records"
AUDIT = "io.vaultd.audit"
ADMIN = "io.vaultd.admin"
SERVICE = "org.varlink.service"

EXPORT_FORMAT = "vaultd-audit-export/1"
ZERO_HASH = "0" * 64
SIGNATURE_PREFIX = "\u2014 "  # em dash and a space start a signature line
NEXT_KEY_PREFIX = "vaultd-next-key "  # the extension line of a hand-over checkpoint
TIME_PREFIX = "vaultd-time "  # the extension line with the time the checkpoint was signed


class VarlinkError(Exception):
    """An error reply: `error` is its full name, `parameters` its object."""

    def __init__(self, error, parameters=None):
        self.error = error
        self.parameters = parameters or {}
        super().__init__(error, self.parameters)

    @property
    def short_name(self):
        """The name without its interface, e.g. "NotFound"."""
        return self.error.rsplit(".", 1)[-1]


class ProtocolError(Exception):
    """The daemon sent something the documentation does not allow."""


class Connection:
    """One connection to vaultd.

    Calls may be pipelined: send() any number of calls, then read the
    replies in the same order with reply() (or stream() for "more" calls).
    """

    def __init__(self, path, timeout=30.0, recv_size=65536):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.recv_size = recv_size
        self._buf = bytearray()

    @classmethod
    def from_socket(cls, sock, recv_size=65536):
        """Wrap an already connected socket (used by framing tests)."""
        self = cls.__new__(cls)
        self.sock = sock
        self.recv_size = recv_size
        self._buf = bytearray()
        return self

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- framing -----------------------------------------------------------

    def send(self, method, parameters=None, more=False, oneway=False):
        """Send one call without waiting for its reply."""
        call = {"method": method}
        if parameters:
            call["parameters"] = parameters
        if more:
            call["more"] = True
        if oneway:
            call["oneway"] = True
        self.send_raw(json.dumps(call, ensure_ascii=False).encode("utf-8") + b"\0")

    def send_raw(self, data):
        self.sock.sendall(data)

    def receive(self):
        """Read the next whole message, keeping any bytes that follow it."""
        while True:
            end = self._buf.find(b"\0")
            if end >= 0:
                raw = bytes(self._buf[:end])
                del self._buf[:end + 1]
                break
            chunk = self.sock.recv(self.recv_size)
            if not chunk:
                if self._buf:
                    raise ProtocolError("connection closed inside a message")
                raise ConnectionError("vaultd closed the connection")
            self._buf += chunk
        message = json.loads(raw.decode("utf-8"))
        if not isinstance(message, dict):
            raise ProtocolError("a message is not a JSON object: %r" % raw[:80])
        return message

    # -- replies -----------------------------------------------------------

    @staticmethod
    def _parameters(message):
        if "error" in message:
            raise VarlinkError(message["error"], message.get("parameters"))
        return message.get("parameters", {})

    def reply(self):
        """The parameters of the next (single) reply; raises VarlinkError."""
        message = self.receive()
        if message.get("continues"):
            raise ProtocolError("unexpected streamed reply to a plain call")
        return self._parameters(message)

    def stream(self):
        """Yield the parameters of each part of a streamed reply, until the
        part without "continues": true; raises VarlinkError on an error."""
        while True:
            message = self.receive()
            yield self._parameters(message)
            if not message.get("continues"):
                return

    def call(self, method, parameters=None):
        self.send(method, parameters)
        return self.reply()

    def call_more(self, method, parameters=None):
        """A "more" call; the list of all reply parts."""
        self.send(method, parameters, more=True)
        return list(self.stream())

    # -- io.vaultd.records ------------------------------------------------

    def put(self, collection, id, data, if_version=None):
        """Store `data` (bytes); the new version number."""
        params = {"collection": collection, "id": id,
                  "data": base64.b64encode(data).decode("ascii")}
        if if_version is not None:
            params["if_version"] = if_version
        return self.call(RECORDS + ".Put", params)["version"]

    def get(self, collection, id, version=None):
        """The reply of Get with `data` decoded to bytes."""
        params = {"collection": collection, "id": id}
        if version is not None:
            params["version"] = version
        reply = self.call(RECORDS + ".Get", params)
        reply["data"] = base64.b64decode(reply["data"], validate=True)
        return reply

    def delete(self, collection, id, if_version=None):
        """Write a tombstone; its version number."""
        params = {"collection": collection, "id": id}
        if if_version is not None:
            params["if_version"] = if_version
        return self.call(RECORDS + ".Delete", params)["version"]

    def list_page(self, collection, after=None, limit=None):
        params = {"collection": collection}
        if after is not None:
            params["after"] = after
        if limit is not None:
            params["limit"] = limit
        return self.call(RECORDS + ".List", params)

    def list_all(self, collection, limit=None):
        """Every live record of a collection, following "next" pages."""
        records, after = [], None
        while True:
            page = self.list_page(collection, after, limit)
            records.extend(page["records"])
            after = page.get("next")
            if after is None:
                return records

    def history(self, collection, id):
        return self.call(RECORDS + ".History", {"collection": collection, "id": id})

    # -- io.vaultd.audit ---------------------------------------------------

    def audit_head(self):
        return self.call(AUDIT + ".Head")

    def audit_export(self, from_seq=None, to_seq=None):
        """The export file: each streamed line followed by a newline."""
        params = {}
        if from_seq is not None:
            params["from_seq"] = from_seq
        if to_seq is not None:
            params["to_seq"] = to_seq
        out = bytearray()
        for part in self.call_more(AUDIT + ".Export", params):
            for line in part["lines"]:
                out += line.encode("utf-8") + b"\n"
        return bytes(out)

    def audit_verify(self):
        return self.call(AUDIT + ".Verify")

    # -- io.vaultd.admin and org.varlink.service --------------------------

    def status(self):
        return self.call(ADMIN + ".Status")

    def get_info(self):
        return self.call(SERVICE + ".GetInfo")

    def get_interface_description(self, interface):
        return self.call(SERVICE + ".GetInterfaceDescription",
                         {"interface": interface})["description"]


# -- audit exports (docs/audit-format.md) ----------------------------------


class ExportError(ValueError):
    """An export fails verification; `seq` is the failing line when known."""

    def __init__(self, message, seq=None):
        self.seq = seq
        super().__init__(message if seq is None else "seq %s: %s" % (seq, message))


class Export:
    """A parsed export whose chain has been checked."""

    def __init__(self, header, lines, hashes, checkpoints, leaves=None):
        self.header = header            # the header object
        self.lines = lines              # parsed audit lines, in order
        self.hashes = hashes            # seq -> SHA-256 digest (bytes)
        self.checkpoints = checkpoints  # the signed notes (str)
        self.leaves = leaves or []      # the lines' Merkle leaf hashes, in order


def sha256(data):
    return hashlib.sha256(data).digest()


class Frontier:
    """The Merkle tree of the first `size` lines as its frontier ("Verifying
    an export", step 4): one complete subtree's hash per one bit of size,
    kept as a binary counter keeps its bits."""

    def __init__(self, size=0, hashes=None):
        self.size = size
        self.hashes = dict(hashes or {})  # level -> hash

    @classmethod
    def from_header(cls, header):
        """The header's "tree": the complete subtrees of lines 0 .. A-1,
        largest first; None when the header has none (an older export)."""
        first = header["first_seq"]
        if "tree" not in header:
            return cls() if first == 0 else None
        levels = [level for level in range(63, -1, -1) if first >> level & 1]
        hashes = [base64.b64decode(h, validate=True) for h in header["tree"]]
        if len(hashes) != len(levels) or any(len(h) != 32 for h in hashes):
            raise ExportError("the header's tree is not the frontier of %d lines" % first)
        return cls(first, zip(levels, hashes))

    def append(self, leaf):
        h, level = leaf, 0
        while self.size >> level & 1:
            h = sha256(b"\x01" + self.hashes.pop(level) + h)
            level += 1
        self.hashes[level] = h
        self.size += 1

    def root(self):
        root = None
        for level in sorted(self.hashes):  # the smallest first
            root = self.hashes[level] if root is None else sha256(b"\x01" + self.hashes[level] + root)
        return root


def verify_export_chain(export_bytes):
    """The chain-only check of "Verifying an export", steps 1-3: header
    format, seq A, A+1, ..., each prev the hash of the line before (the
    header's prev for line A), B-A+1 audit lines. Returns an Export."""
    if not export_bytes.endswith(b"\n"):
        raise ExportError("the export does not end with a newline")
    # CR LF line ends (a Windows round trip): the CR is not part of a line.
    raws = [r[:-1] if r.endswith(b"\r") else r for r in export_bytes[:-1].split(b"\n")]
    while raws and raws[-1] == b"":  # blank lines at the end only
        raws.pop()
    if b"" in raws:
        raise ExportError("a blank line inside the export")
    header = json.loads(raws[0])
    if header.get("format") != EXPORT_FORMAT:
        raise ExportError("unknown format %r" % header.get("format"))
    first, last = header["first_seq"], header["last_seq"]

    lines, hashes, checkpoints, leaves = [], {}, [], []
    expected_seq, prev = first, header["prev"]
    for raw in raws[1:]:
        entry = json.loads(raw)
        if "checkpoint" in entry:
            checkpoints.append(entry["checkpoint"])
            continue
        if checkpoints:
            raise ExportError("an audit line after a checkpoint", entry.get("seq"))
        if entry.get("seq") != expected_seq:
            raise ExportError("expected seq %d" % expected_seq, entry.get("seq"))
        if entry.get("prev") != prev:
            raise ExportError("prev does not match the line before", entry["seq"])
        digest = hashlib.sha256(raw).digest()
        hashes[entry["seq"]] = digest
        leaves.append(sha256(b"\x00" + raw))
        prev = digest.hex()
        lines.append(entry)
        expected_seq += 1

    if len(lines) != last - first + 1:
        raise ExportError("%d audit lines, header says %d..%d" % (len(lines), first, last))
    return Export(header, lines, hashes, checkpoints, leaves)


def key_id(name, public_key):
    """First 4 bytes of SHA-256(name || 0x0A || 0x01 || public key)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n\x01" + public_key).digest()[:4]


def parse_verifier_key(text):
    """<name>+<8 hex of key id>+<base64(0x01 || 32-byte key)>; checks the
    key id against the key. Returns (name, key id, public key)."""
    # The base64 part may itself contain "+", so split only twice.
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise ExportError("verifier key %r has not three parts" % text)
    name, id_hex, key_b64 = parts
    if not name or len(id_hex) != 8:
        raise ExportError("malformed verifier key %r" % text)
    kid = bytes.fromhex(id_hex)
    blob = base64.b64decode(key_b64, validate=True)
    if len(blob) != 33 or blob[0] != 0x01:
        raise ExportError("verifier key is not 0x01 || 32 bytes")
    public_key = blob[1:]
    if key_id(name, public_key) != kid:
        raise ExportError("verifier key id does not match its key")
    return name, kid, public_key


class Checkpoint:
    def __init__(self, origin, size, root_hash, text, signatures, next_key, signed_at=None):
        self.origin = origin
        self.size = size
        self.hash = root_hash        # the tree's root (or, old form, the digest of line size-1)
        self.text = text             # the signed text, final newline included
        self.signatures = signatures  # [(key name, key id, signature)]
        self.next_key = next_key     # the vaultd-next-key line's key, or None
        self.time = signed_at        # the vaultd-time line, seconds since the epoch, or None


def parse_checkpoint(note):
    """Split a signed note at its last blank line into the text (three
    lines, then extension lines) and the signature lines."""
    body, sep, sigs = note.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise ExportError("checkpoint has no signature block after a blank line")
    text = body + "\n"
    fields = body.split("\n")
    if len(fields) < 3 or "" in fields:
        raise ExportError("checkpoint text is not origin, size, hash and extension lines")
    origin, size, hash_b64 = fields[:3]
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise ExportError("checkpoint size %r is not decimal" % size)
    root_hash = base64.b64decode(hash_b64, validate=True)
    if len(root_hash) != 32:
        raise ExportError("checkpoint hash is not 32 bytes")
    next_keys = [f[len(NEXT_KEY_PREFIX):] for f in fields[3:] if f.startswith(NEXT_KEY_PREFIX)]
    times = [f[len(TIME_PREFIX):] for f in fields[3:] if f.startswith(TIME_PREFIX)]
    if len(times) > 1:
        raise ExportError("checkpoint has two time lines")
    signed_at = calendar.timegm(time.strptime(times[0], "%Y-%m-%dT%H:%M:%SZ")) if times else None
    if len(next_keys) > 1:
        raise ExportError("checkpoint names two next keys")

    signatures = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise ExportError("signature line %r lacks the em dash" % line)
        name, _, sig_b64 = line[len(SIGNATURE_PREFIX):].partition(" ")
        blob = base64.b64decode(sig_b64, validate=True)
        if not name or len(blob) < 5:
            raise ExportError("malformed signature line %r" % line)
        signatures.append((name, blob[:4], blob[4:]))
    return Checkpoint(origin, int(size), root_hash, text, signatures,
                      next_keys[0] if next_keys else None, signed_at)


def signed_by(cp, verifier_key):
    """Whether the checkpoint carries a valid Ed25519 signature by the key:
    the first signature line with its name and key id must verify."""
    name, kid, public_key = parse_verifier_key(verifier_key)
    for n, k, sig in cp.signatures:
        if n == name and k == kid:
            try:
                VerifyKey(public_key).verify(cp.text.encode("utf-8"), sig)
                return True
            except BadSignatureError:
                raise ExportError("checkpoint %d: the signature by %s does not verify" % (cp.size, name))
    return False


def parse_witness_key(text):
    """A witness's key: <name>+<8 hex of key id>+<base64(0x04 || 32-byte
    key)>, key id = SHA-256(name || 0x0A || 0x04 || key)[:4]. Returns
    (name, key id, public key)."""
    parts = text.split("+", 2)
    if len(parts) != 3 or not parts[0] or len(parts[1]) != 8:
        raise ExportError("malformed witness key %r" % text)
    name, id_hex, key_b64 = parts
    blob = base64.b64decode(key_b64, validate=True)
    if len(blob) != 33 or blob[0] != 0x04:
        raise ExportError("witness key is not 0x04 || 32 bytes")
    kid = hashlib.sha256(name.encode("utf-8") + b"\n\x04" + blob[1:]).digest()[:4]
    if kid.hex() != id_hex:
        raise ExportError("witness key id does not match its key")
    return name, kid, blob[1:]


def cosignature(cp, witness_key):
    """The witness's cosignature of the checkpoint ("Witnesses"): the time
    it signed when the first signature line with the witness's name and
    key id is a valid cosignature/v1 (8-byte big-endian time, then Ed25519
    over "cosignature/v1", "time T" and the checkpoint's text); None when
    no line names the key; ExportError when that line does not verify."""
    name, kid, public_key = parse_witness_key(witness_key)
    for n, k, sig in cp.signatures:
        if n == name and k == kid:
            when = int.from_bytes(sig[:8], "big")
            msg = b"cosignature/v1\ntime %d\n" % when + cp.text.encode("utf-8")
            try:
                if len(sig) != 72 or when >= 1 << 63:
                    raise BadSignatureError
                VerifyKey(public_key).verify(msg, sig[8:])
            except BadSignatureError:
                raise ExportError("checkpoint %d: the cosignature by %s does not verify" % (cp.size, name))
            return when
    return None


def check_export_checkpoints(export, verifier_key=None, partial=False):
    """Step 4 and 5 of "Verifying an export": each checkpoint, in order,
    signed by the key in force (at first the trusted one, which the header
    must name), its origin, its hash: the root of the tree of its lines, or
    (the old form, never after a root) the hash of line size-1; a
    vaultd-next-key line hands over to that key when the checkpoint is
    signed by it too; and a checkpoint covers the last line. `export` is
    bytes or an Export; `verifier_key` defaults to the header's. Returns
    the parsed checkpoints; export.old_form and export.root_form list the
    sizes of each form."""
    if isinstance(export, (bytes, bytearray)):
        export = verify_export_chain(bytes(export))
    header = export.header
    if verifier_key is None:
        verifier_key = header["verifier_key"]
    elif header["verifier_key"] != verifier_key:
        raise ExportError("the header's verifier key is not the trusted one")
    key = verifier_key
    tree = Frontier.from_header(header)
    export.old_form, export.root_form = [], []

    parsed = []
    for note in export.checkpoints:
        cp = parse_checkpoint(note)
        if cp.origin != header["origin"]:
            raise ExportError("checkpoint origin %r is not the header's" % cp.origin)
        last = note is export.checkpoints[-1]
        beyond = cp.size > header["last_seq"] + 1
        if beyond and not last:
            raise ExportError("only the last checkpoint may lie beyond the export's last line")
        if not beyond and cp.size - 1 not in export.hashes:
            raise ExportError("checkpoint size %d is outside the export" % cp.size)
        if parsed and cp.size <= parsed[-1].size:
            raise ExportError("checkpoints are not in order of size")
        if not beyond:
            root = None
            if tree is not None:
                while tree.size < cp.size:
                    tree.append(export.leaves[tree.size - header["first_seq"]])
                root = tree.root()
            if root is not None and cp.hash == root:
                export.root_form.append(cp.size)
            elif cp.hash == export.hashes[cp.size - 1] and not export.root_form:
                export.old_form.append(cp.size)
            else:
                raise ExportError("checkpoint hash is neither the tree's root nor (old form) the "
                                  "line's hash", cp.size - 1)
        if beyond and not partial:
            raise ExportError("a part of the trail: the vault held %d lines when it was exported" % cp.size)
        if parsed and cp.size <= parsed[-1].size:
            raise ExportError("checkpoints are not in order of size")
        if not signed_by(cp, key):
            raise ExportError("checkpoint %d has no signature by the key in force" % cp.size)
        if cp.next_key is not None:
            if parse_verifier_key(cp.next_key)[0] != parse_verifier_key(key)[0] or not signed_by(cp, cp.next_key):
                raise ExportError("checkpoint %d hands over to a key that did not sign it" % cp.size)
            key = cp.next_key
        parsed.append(cp)
    if not any(cp.size == header["last_seq"] + 1 for cp in parsed):
        raise ExportError("no checkpoint covers the last line", header["last_seq"])
    # Step 6: the newest checkpoint was signed when the export was made.
    when = parsed[-1].time
    if when is not None:
        exported = calendar.timegm(time.strptime(header.get("exported", "")[:19], "%Y-%m-%dT%H:%M:%S"))
        if not 0 <= exported - when <= 300:
            raise ExportError("the newest checkpoint was not signed when the export says it was made")
    export.final_key = key
    return parsed
