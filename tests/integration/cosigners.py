"""Witness cosignatures for the tests, written from c2sp.org/tlog-cosignature
(cosignature/v1, Ed25519) with python3-nacl: a key's verifier key, and the
signature line it adds to a checkpoint. The test witness that follows
c2sp.org/tlog-witness is Go (tests/witness/gowitness); this one signs
whatever it is given, for tests that need a cosignature without the
protocol, or a forged one."""
import base64
import hashlib
import struct
import time

from nacl.signing import SigningKey

COSIGNATURE_TYPE = b"\x04"


class Cosigner:
    def __init__(self, name):
        self.name = name
        self.key = SigningKey.generate()
        pub = bytes(self.key.verify_key)
        self.key_id = hashlib.sha256(name.encode() + b"\n" + COSIGNATURE_TYPE + pub).digest()[:4]
        self.vkey = "%s+%s+%s" % (name, self.key_id.hex(), base64.b64encode(COSIGNATURE_TYPE + pub).decode())

    def line(self, text, when=None, forge=False):
        """The signature line of a cosignature of the checkpoint text (final
        newline included); forge: a signature that does not verify."""
        when = int(time.time()) if when is None else when
        msg = b"cosignature/v1\ntime %d\n" % when + text.encode()
        sig = self.key.sign(msg).signature
        if forge:
            sig = bytes([sig[0] ^ 1]) + sig[1:]
        blob = self.key_id + struct.pack(">Q", when) + sig
        return "\u2014 %s %s\n" % (self.name, base64.b64encode(blob).decode())


def note_text(note):
    """The text of a signed note: up to its last blank line, final newline
    included."""
    return note.rpartition("\n\n")[0] + "\n"


def cosigned(note, *lines):
    return note + "".join(lines)
