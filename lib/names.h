/* Collection names and record ids as an office writes them: UTF-8,
 * Vietnamese letters and "/" included (docs/protocol.md, "Names"). Every
 * name is kept in Unicode NFC, so that the same visible name, however a
 * keyboard composed it, is the same key in the store, the policy and the
 * audit trail. The characters allowed are chosen so that a name is safe in
 * an audit line, a CSV cell, a policy file and on a terminal without any
 * escape: no control, format (bidi, zero-width), separator, private-use or
 * unassigned character, and a letter or digit first (never "=", "-", "+"
 * or "@", which a spreadsheet or a command line would take for more).
 * Pure functions of libunistring (Unicode 14 tables); no state. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Longest collection name and record id, in bytes of UTF-8 (NFC). A
 * Vietnamese letter takes 2 or 3 bytes. */
#define NAME_COLLECTION_MAX 64
#define NAME_ID_MAX         128

enum name_kind {
        NAME_COLLECTION, /* lower-case letters, marks, digits, . _ - / */
        NAME_ID,         /* letters, marks, digits, punctuation, symbols */
};

/* Whether s is a well-formed name of kind, in NFC. */
bool name_valid(enum name_kind kind, const char *s);
/* The same, with a sentence saying what is wrong in why (when not NULL). */
bool name_check(enum name_kind kind, const char *s, char *why, size_t whylen);
/* A collection name: 1..64 bytes, see name_check. */
bool name_collection_valid(const char *s);
/* A record id: 1..128 bytes, see name_check. */
bool name_id_valid(const char *s);

/* Writes the NFC form of the UTF-8 string s into out (cap bytes with the
 * NUL). Returns its length, -EILSEQ when s is not UTF-8, -ENAMETOOLONG
 * when it does not fit, -ENOMEM. ASCII is copied as it is. */
int name_normalise(const char *s, char *out, size_t cap);

/* Whether s (len bytes) holds a character a terminal or a bidi renderer
 * acts on, or is not UTF-8: free text (a reason) must not. */
bool text_has_controls(const char *s, size_t len);
