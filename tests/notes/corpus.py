#!/usr/bin/python3
"""The signed-note corpus of the differential test (test_note_corpus.py):
valid and broken notes, made at test time with real Ed25519 signatures
from keys derived from fixed seeds, so every run has the same bytes.

    corpus.py OUTDIR    writes OUTDIR/<case>.note and OUTDIR/cases.tsv
                        (case, verifier key, expected verdict)

Each case is opened with one verifier key (the vault's, unless it says
otherwise) and carries the verdict c2sp.org/signed-note and Go's
golang.org/x/mod/sumdb/note give it: ok, malformed, invalid-signature or
unverified. The expected verdicts keep the corpus honest (a case meant to
test one rule must not fail on another); the test sets both Go's and
lib/note.c's verdicts against them.

Signatures are made with PyNaCl (libsodium), not with either side under
test; the witness cosignature follows c2sp.org/tlog-cosignature.
"""
import base64
import hashlib
import os
import sys

from nacl.signing import SigningKey

OK, MALFORMED, INVALID, UNVERIFIED = "ok", "malformed", "invalid-signature", "unverified"
DASH = "\u2014 ".encode()  # em dash and a space start a signature line
L = 2**252 + 27742317777372353535851937790883648493  # Ed25519 group order


def b64(b):
    return base64.b64encode(b).decode()


class Key:
    """An Ed25519 signed-note key: alg 0x01 (a note signer) or 0x04 (a
    tlog-cosignature/v1 witness), its secret from a fixed seed."""

    def __init__(self, name, seed, alg=0x01):
        self.name = name
        self.alg = alg
        self.seed = hashlib.sha256(b"vaultd note corpus: " + seed.encode()).digest()
        self.sk = SigningKey(self.seed)
        self.pk = bytes(self.sk.verify_key)
        self.id = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + self.pk).digest()[:4]

    @property
    def vkey(self):
        return "%s+%s+%s" % (self.name, self.id.hex(), b64(bytes([self.alg]) + self.pk))

    def sign(self, text):
        return self.sk.sign(text).signature

    def line(self, text=None, sig=None, key_id=None, name=None):
        """One signature line: by default this key's valid signature of text."""
        if sig is None:
            sig = self.sign(text)
        return sigline(name if name is not None else self.name, (key_id or self.id) + sig)

    def cosign(self, text, timestamp=1700000000):
        """A tlog-cosignature/v1 line over a checkpoint text."""
        assert self.alg == 0x04
        ts = timestamp.to_bytes(8, "big")
        sig = self.sk.sign(b"cosignature/v1\ntime %d\n" % timestamp + text).signature
        return sigline(self.name, self.id + ts + sig)

    def scalar(self):
        h = bytearray(hashlib.sha512(self.seed).digest()[:32])
        h[0] &= 248
        h[31] &= 127
        h[31] |= 64
        return int.from_bytes(h, "little")

    def sign_identity_r(self, text):
        """A signature whose R is the identity point: S = k·a, so that
        [S]B - [k]A = identity holds. Only the key's holder can make one;
        RFC 8032's equation accepts it, libsodium refuses small-order R."""
        r = bytes([1]) + bytes(31)
        k = int.from_bytes(hashlib.sha512(r + self.pk + text).digest(), "little") % L
        return r + (k * self.scalar() % L).to_bytes(32, "little")

    def sign_s_plus_l(self, text):
        """A valid signature with L added to S: the same equation, S not
        reduced (non-canonical)."""
        sig = self.sign(text)
        return sig[:32] + (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little")


def sigline(name, blob, encoded=None):
    name = name.encode() if isinstance(name, str) else name
    return DASH + name + b" " + (encoded if encoded is not None else b64(blob).encode()) + b"\n"


VAULT = Key("vaultd/4f1c9a0e2b7d4c61a8e3f5b2c9d0e1f7", "vault")
# The same name, another key (another key id).
IMPOSTOR = Key(VAULT.name, "impostor")
OTHER = Key("example.org/other-log", "other")
WITNESS = Key("witness.example.net/w1", "witness", alg=0x04)
UNICODE = Key("archiv.bundesamt.example/prüfung/記録", "unicode")

CHECKPOINT = b"%s\n1532\n%s\n" % (VAULT.name.encode(),
                                 b64(hashlib.sha256(b"line 1531").digest()).encode())
TEXT = CHECKPOINT


def signed(text=TEXT, *lines):
    """text, the blank line, then the signature lines (default: the vault's)."""
    return text + b"\n" + b"".join(lines or [VAULT.line(text)])


def b64_set_unused_bits(s):
    """s (standard base64 with one '=') with the 2 unused bits of its last
    data character set: Go's StdEncoding ignores them."""
    assert s.endswith("=") and not s.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    i = alphabet.index(s[-2])
    assert i & 3 == 0
    return s[:-2] + alphabet[i | 3] + "="


# Unicode White_Space above ASCII (Go's unicode.IsSpace): none may be in a
# key name. U+0085 is C1, not below 0x20, so only the name rule rejects it.
UNICODE_SPACES = [0x85, 0xA0, 0x1680] + list(range(0x2000, 0x200B)) + [0x2028, 0x2029, 0x202F, 0x205F,
                                                                      0x3000]


def cases():
    """[(name, verifier key, expected verdict, note bytes)]"""
    out = []

    def add(name, expected, msg, key=VAULT):
        assert all(c[0] != name for c in out), name
        out.append((name, key.vkey, expected, msg))

    vault_line = VAULT.line(TEXT)
    vault_sig = VAULT.id + VAULT.sign(TEXT)

    # --- verified ---------------------------------------------------------
    add("ok_one_signature", OK, signed())
    add("ok_unknown_signer_after", OK, signed(TEXT, vault_line, OTHER.line(TEXT)))
    add("ok_unknown_signer_before", OK, signed(TEXT, OTHER.line(TEXT), vault_line))
    add("ok_several_signatures", OK, signed(TEXT, OTHER.line(TEXT), vault_line, IMPOSTOR.line(TEXT),
                                            UNICODE.line(TEXT)))
    add("ok_witness_cosignature", OK, signed(TEXT, vault_line, WITNESS.cosign(TEXT)))
    add("ok_witness_cosignature_first", OK, signed(TEXT, WITNESS.cosign(TEXT), vault_line))
    ext = TEXT + b"vaultd-next-key " + OTHER.vkey.encode() + b"\nexample.org/ext 1 2 3\n"
    add("ok_extension_lines", OK, signed(ext, VAULT.line(ext)))
    add("ok_non_ascii_key_name", OK, signed(TEXT, UNICODE.line(TEXT)), key=UNICODE)
    add("ok_non_ascii_key_name_among_others", OK, signed(TEXT, vault_line, UNICODE.line(TEXT), OTHER.line(TEXT)),
        key=UNICODE)
    add("ok_non_ascii_unknown_signer", OK, signed(TEXT, UNICODE.line(TEXT), vault_line))
    utf8 = TEXT + "grüße 日本 \U0001F600 \ufffd \ufeff\n".encode()
    add("ok_utf8_text", OK, signed(utf8, VAULT.line(utf8)))
    # Go rejects only runes below 0x20 (but newline): DEL and C1 are text.
    c1 = TEXT + b"del \x7f c1 \xc2\x85 \xc2\x9f\n"
    add("ok_del_and_c1_in_text", OK, signed(c1, VAULT.line(c1)))
    add("ok_duplicate_identical_lines", OK, signed(TEXT, vault_line, vault_line))
    add("ok_duplicate_first_good_second_bad", OK,
        signed(TEXT, vault_line, VAULT.line(sig=VAULT.sign(b"another text\n"))))
    add("ok_duplicate_first_good_second_short", OK, signed(TEXT, vault_line, VAULT.line(sig=b"\x00" * 63)))
    blank = b"first paragraph\n\nsecond paragraph\n"
    add("ok_text_with_blank_line", OK, signed(blank, VAULT.line(blank)))
    # The text holds what looks like a signature block; the note splits at
    # the last blank line, so the vault's line before it is text.
    inner = signed(TEXT, OTHER.line(TEXT))
    add("ok_signature_block_inside_text", OK, signed(inner, VAULT.line(inner)))
    add("ok_text_only_newline", OK, signed(b"\n", VAULT.line(b"\n")))
    two_nl = b"\n\n"
    add("ok_text_two_newlines", OK, signed(two_nl, VAULT.line(two_nl)))
    add("ok_100_signatures", OK, signed(TEXT, *([OTHER.line(TEXT)] * 99 + [vault_line])))
    add("ok_100_distinct_signatures", OK,
        signed(TEXT, *[Key("example.org/w%d" % i, "w%d" % i).line(TEXT) for i in range(99)] + [vault_line]))
    add("ok_unknown_signature_5_bytes", OK, signed(TEXT, sigline(OTHER.name, OTHER.id + b"\x01"), vault_line))
    add("ok_unknown_signature_6_bytes_no_padding", OK,
        signed(TEXT, sigline(OTHER.name, OTHER.id + b"\x01\x02"), vault_line))
    add("ok_unknown_signature_long", OK, signed(TEXT, sigline(OTHER.name, OTHER.id + bytes(1000)), vault_line))
    add("ok_base64_unused_bits_set", OK,
        signed(TEXT, sigline(VAULT.name, None, b64_set_unused_bits(b64(vault_sig)).encode())))
    add("ok_base64_unused_bits_set_unknown", OK,
        signed(TEXT, sigline(OTHER.name, None, b64_set_unused_bits(b64(OTHER.id + OTHER.sign(TEXT))).encode()),
               vault_line))
    for cp, label in ((0x200B, "zero_width_space"), (0x180E, "mongolian_vowel_separator"), (0xFEFF, "bom"),
                      (0x00AD, "soft_hyphen")):
        # Not White_Space (U+180E left it in Unicode 6.3): a valid name.
        add("ok_unknown_name_with_%s" % label, OK,
            signed(TEXT, OTHER.line(TEXT, name="a%sb" % chr(cp)), vault_line))

    # --- unverified -------------------------------------------------------
    add("unverified_only_unknown_signer", UNVERIFIED, signed(TEXT, OTHER.line(TEXT)))
    add("unverified_only_witness", UNVERIFIED, signed(TEXT, WITNESS.cosign(TEXT)))
    add("unverified_same_name_other_key", UNVERIFIED, signed(TEXT, IMPOSTOR.line(TEXT)))
    add("unverified_vault_key_id_other_name", UNVERIFIED,
        signed(TEXT, VAULT.line(TEXT, name="vaultd/other")))
    add("unverified_key_id_one_bit_off", UNVERIFIED,
        signed(TEXT, VAULT.line(TEXT, key_id=bytes([VAULT.id[0] ^ 1]) + VAULT.id[1:])))
    add("unverified_non_ascii_key_absent", UNVERIFIED, signed(TEXT, vault_line), key=UNICODE)
    # The vault's line before the last blank line is text, not a signature.
    add("unverified_blank_line_between_signatures", UNVERIFIED,
        signed(TEXT, vault_line, b"\n", OTHER.line(TEXT)))
    add("unverified_short_unknown_5_bytes", UNVERIFIED, signed(TEXT, sigline(OTHER.name, OTHER.id + b"\x00")))

    # --- invalid signature ------------------------------------------------
    add("invalid_signature_of_other_text", INVALID, signed(TEXT, VAULT.line(sig=VAULT.sign(b"other\n"))))
    tampered = TEXT.replace(b"1532", b"1533")
    add("invalid_tampered_text", INVALID, signed(tampered, vault_line))
    add("invalid_text_without_final_newline_signed", INVALID,
        signed(TEXT, VAULT.line(sig=VAULT.sign(TEXT[:-1]))))
    add("invalid_signature_63_bytes", INVALID, signed(TEXT, VAULT.line(sig=VAULT.sign(TEXT)[:63])))
    add("invalid_signature_65_bytes", INVALID, signed(TEXT, VAULT.line(sig=VAULT.sign(TEXT) + b"\x00")))
    add("invalid_signature_1_byte", INVALID, signed(TEXT, VAULT.line(sig=b"\x00")))
    add("invalid_signature_zero", INVALID, signed(TEXT, VAULT.line(sig=bytes(64))))
    add("invalid_signature_bit_flipped", INVALID,
        signed(TEXT, VAULT.line(sig=bytes([VAULT.sign(TEXT)[0] ^ 1]) + VAULT.sign(TEXT)[1:])))
    add("invalid_signature_s_plus_l", INVALID, signed(TEXT, VAULT.line(sig=VAULT.sign_s_plus_l(TEXT))))
    add("invalid_duplicate_first_bad_second_good", INVALID,
        signed(TEXT, VAULT.line(sig=VAULT.sign(b"another text\n")), vault_line))
    add("invalid_duplicate_first_short_second_good", INVALID,
        signed(TEXT, VAULT.line(sig=b"\x00" * 63), vault_line))
    add("invalid_bad_then_unknown", INVALID, signed(TEXT, VAULT.line(sig=bytes(64)), OTHER.line(TEXT)))
    add("invalid_unknown_then_bad", INVALID, signed(TEXT, OTHER.line(TEXT), VAULT.line(sig=bytes(64))))
    # Valid only for a parser that splits at the first blank line.
    add("invalid_signed_first_paragraph_only", INVALID,
        signed(blank, VAULT.line(b"first paragraph\n")))
    add("invalid_non_ascii_key_bad_signature", INVALID, signed(TEXT, UNICODE.line(sig=bytes(64))),
        key=UNICODE)

    # --- malformed: the text ----------------------------------------------
    add("malformed_empty", MALFORMED, b"")
    add("malformed_only_blank_line", MALFORMED, b"\n\n")
    add("malformed_no_blank_line", MALFORMED, TEXT + vault_line)
    add("malformed_blank_line_only_at_end", MALFORMED, TEXT + vault_line + b"\n")
    add("malformed_no_final_newline", MALFORMED, signed()[:-1])
    add("malformed_trailing_blank_lines", MALFORMED, signed() + b"\n\n")
    add("malformed_no_signature_lines", MALFORMED, TEXT + b"\n")
    for label, bad in (("nul", b"\x00"), ("tab", b"\t"), ("cr", b"\r"), ("escape", b"\x1b"),
                       ("unit_separator", b"\x1f"), ("vertical_tab", b"\x0b"), ("form_feed", b"\x0c")):
        text = TEXT + b"x" + bad + b"y\n"
        add("malformed_text_control_%s" % label, MALFORMED, signed(text, VAULT.line(text)))
    crlf = TEXT.replace(b"\n", b"\r\n")
    add("malformed_crlf_text", MALFORMED, signed(crlf, VAULT.line(crlf)))
    add("malformed_crlf_signature_line", MALFORMED, signed(TEXT, vault_line[:-1] + b"\r\n"))
    for label, bad in (("byte_ff", b"\xff"), ("lone_continuation", b"\x80"), ("overlong_2_bytes", b"\xc0\xaf"),
                       ("overlong_3_bytes", b"\xe0\x80\xaf"), ("overlong_4_bytes", b"\xf0\x80\x80\xaf"),
                       ("surrogate_high", b"\xed\xa0\x80"), ("surrogate_low", b"\xed\xbf\xbf"),
                       ("above_10ffff", b"\xf4\x90\x80\x80"), ("lead_f5", b"\xf5\x80\x80\x80"),
                       ("truncated", b"\xe6\x97"), ("latin1", "é".encode("latin-1"))):
        text = TEXT + b"x" + bad + b"\n"
        add("malformed_text_utf8_%s" % label, MALFORMED, signed(text, VAULT.line(text)))
    add("malformed_utf8_truncated_at_end", MALFORMED, signed() + b"\xe2\x80")

    # --- malformed: signature lines ---------------------------------------
    add("malformed_junk_line_after_signature", MALFORMED, signed(TEXT, vault_line, b"junk\n"))
    add("malformed_junk_line_before_signature", MALFORMED, signed(TEXT, b"junk\n", vault_line))
    add("malformed_empty_line_after_unknown", MALFORMED, signed(TEXT, OTHER.line(TEXT), b"\n", b"\n"))
    add("malformed_hyphen_not_em_dash", MALFORMED, signed(TEXT, b"- " + vault_line[len(DASH):]))
    add("malformed_en_dash", MALFORMED, signed(TEXT, "\u2013 ".encode() + vault_line[len(DASH):]))
    add("malformed_no_space_after_dash", MALFORMED, signed(TEXT, DASH[:-1] + vault_line[len(DASH):]))
    add("malformed_two_spaces_after_dash", MALFORMED, signed(TEXT, DASH + b" " + vault_line[len(DASH):]))
    add("malformed_leading_space", MALFORMED, signed(TEXT, b" " + vault_line))
    add("malformed_two_spaces_before_base64", MALFORMED,
        signed(TEXT, sigline(VAULT.name, None, b" " + b64(vault_sig).encode())))
    add("malformed_trailing_space", MALFORMED, signed(TEXT, vault_line[:-1] + b" \n"))
    add("malformed_empty_name", MALFORMED, signed(TEXT, sigline(b"", vault_sig)))
    add("malformed_no_base64", MALFORMED, signed(TEXT, DASH + VAULT.name.encode() + b"\n"))
    add("malformed_empty_base64", MALFORMED, signed(TEXT, DASH + VAULT.name.encode() + b" \n"))
    add("malformed_name_with_space", MALFORMED, signed(TEXT, OTHER.line(TEXT, name="a b"), vault_line))
    add("malformed_name_with_plus", MALFORMED, signed(TEXT, OTHER.line(TEXT, name="a+b"), vault_line))
    for cp in UNICODE_SPACES:
        add("malformed_name_with_u%04x" % cp, MALFORMED,
            signed(TEXT, OTHER.line(TEXT, name="a%sb" % chr(cp)), vault_line))
    add("malformed_name_invalid_utf8", MALFORMED,
        signed(TEXT, sigline(b"a\xffb", OTHER.id + OTHER.sign(TEXT)), vault_line))
    add("malformed_base64_bad_character", MALFORMED,
        signed(TEXT, sigline(VAULT.name, None, b"*" + b64(vault_sig)[1:].encode())))
    add("malformed_base64_url_alphabet", MALFORMED,
        signed(TEXT, sigline(VAULT.name, None, b"-_" + b64(vault_sig)[2:].encode())))
    add("malformed_base64_missing_padding", MALFORMED,
        signed(TEXT, sigline(VAULT.name, None, b64(vault_sig).rstrip("=").encode())))
    add("malformed_base64_missing_double_padding", MALFORMED,
        signed(TEXT, vault_line, sigline(WITNESS.name, None, WITNESS.cosign(TEXT).split(b" ")[-1][:-3])))
    add("malformed_base64_extra_padding", MALFORMED,
        signed(TEXT, sigline(VAULT.name, None, b64(vault_sig).encode() + b"====")))
    add("malformed_base64_three_padding", MALFORMED,
        signed(TEXT, sigline(VAULT.name, None, b64(vault_sig).encode()[:-3] + b"===")))
    add("malformed_base64_padding_in_middle", MALFORMED,
        signed(TEXT, sigline(VAULT.name, None, b"AA==" + b64(vault_sig).encode())))
    add("malformed_base64_length_not_multiple_of_4", MALFORMED,
        signed(TEXT, sigline(VAULT.name, None, b64(vault_sig).encode()[:-1])))
    add("malformed_signature_4_bytes", MALFORMED, signed(TEXT, vault_line, sigline(OTHER.name, OTHER.id)))
    add("malformed_signature_empty_after_decode", MALFORMED, signed(TEXT, vault_line, sigline(OTHER.name, b"\x00")))
    add("malformed_101_signatures", MALFORMED, signed(TEXT, *([OTHER.line(TEXT)] * 100 + [vault_line])))
    add("malformed_101_signatures_vault_first", MALFORMED, signed(TEXT, *([vault_line] + [OTHER.line(TEXT)] * 100)))
    add("malformed_control_in_signature_line", MALFORMED, signed(TEXT, vault_line[:-1] + b"\x01\n"))
    # --- verdicts that depend on which rule is checked first -------------
    # Go opens signature lines one at a time and stops at the first
    # problem: a known key's bad signature before a malformed line is an
    # invalid signature to Go.
    add("order_bad_signature_then_junk", INVALID, signed(TEXT, VAULT.line(sig=bytes(64)), b"junk\n"))
    add("order_bad_signature_then_101_lines", INVALID,
        signed(TEXT, *([VAULT.line(sig=bytes(64))] + [OTHER.line(TEXT)] * 100)))
    add("order_junk_then_bad_signature", MALFORMED, signed(TEXT, b"junk\n", VAULT.line(sig=bytes(64))))
    add("order_good_signature_then_junk", MALFORMED, signed(TEXT, vault_line, b"junk\n"))

    # --- Ed25519 edge cases -----------------------------------------------
    # R = identity and S = k·a satisfy [S]B = R + [k]A: Go's crypto/ed25519
    # accepts it, libsodium refuses a small-order R.
    add("ed25519_identity_r", OK, signed(TEXT, VAULT.line(sig=VAULT.sign_identity_r(TEXT))))
    return out


def write(outdir):
    """Writes the corpus; returns the cases as (name, vkey, expected, path)."""
    os.makedirs(outdir, exist_ok=True)
    rows = []
    for name, vkey, expected, msg in cases():
        path = os.path.join(outdir, name + ".note")
        with open(path, "wb") as f:
            f.write(msg)
        rows.append((name, vkey, expected, path))
    with open(os.path.join(outdir, "cases.tsv"), "w", encoding="utf-8") as f:
        for name, vkey, expected, _ in rows:
            f.write("%s\t%s\t%s\n" % (name, vkey, expected))
    return rows


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: corpus.py OUTDIR")
    print("%d cases in %s" % (len(write(sys.argv[1])), sys.argv[1]))
