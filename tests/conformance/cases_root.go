package main

// io.vaultd.admin's root key rotation in two steps (NewRoot, UseRoot)
// through the generated bindings: NewRoot returns a candidate root key's
// key file sealed by the passphrase and a key_id naming it, changing
// nothing; UseRoot(key_id) re-wraps every KEK and the signing key under it
// and switches. A UseRoot leaves the vault's key file on disk unable to
// open it, so these checks run last in the main group, whose daemon is
// stopped afterwards and never restarted with the old key file.

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/varlink/go/varlink"

	adm "vaultdconformance/gen/iovaultdadmin"
	aud "vaultdconformance/gen/iovaultdaudit"
)

// keyIDRe: a key_id is 16 hex digits.
var keyIDRe = regexp.MustCompile(`^[0-9a-f]{16}$`)

// rootCollection is where the root key checks write.
const rootCollection = "conf-root"

// newRoot calls NewRoot and checks the key file text and key_id.
func (t *T) newRoot(c *varlink.Connection, pass, what string) (keyFile, keyID string) {
	keyFile, keyID, err := adm.NewRoot().Call(t.Ctx(), c, pass)
	if !t.noErr("NewRoot "+what, err) {
		t.Fatalf("stopped: NewRoot %s failed", what)
	}
	if !strings.HasPrefix(keyFile, sealedKeyFile) {
		t.Errorf("NewRoot %s: key_file %q does not start with %q", what, short([]byte(keyFile)), sealedKeyFile)
	}
	if strings.Contains(keyFile, pass) {
		t.Errorf("NewRoot %s: the key file holds the passphrase in clear: %q", what, short([]byte(keyFile)))
	}
	if !keyIDRe.MatchString(keyID) {
		t.Errorf("NewRoot %s: key_id %q is not 16 lower-case hex digits", what, keyID)
	}
	return keyFile, keyID
}

// useRoot calls UseRoot(keyID) and checks keks and the echoed key_id.
func (t *T) useRoot(c *varlink.Connection, keyID, what string, keks int) bool {
	n, id, err := adm.UseRoot().Call(t.Ctx(), c, keyID)
	if !t.noErr(fmt.Sprintf("UseRoot(%s) %s", keyID, what), err) {
		return false
	}
	if n < 1 || (keks > 0 && n != int64(keks)) {
		t.Errorf("UseRoot(%s) %s: keks %d, want %d (every KEK ListKeys lists, at least 1)", keyID, what, n, keks)
	}
	if id != keyID {
		t.Errorf("UseRoot(%s) %s: key_id %q, want it echoed", keyID, what, id)
	}
	return true
}

// rootDenied: NewRoot and UseRoot, for callers without the admin role.
func rootDenied(t *T) []deniedCall {
	return []deniedCall{
		{"io.vaultd.admin.NewRoot", func(c *varlink.Connection) error {
			_, _, err := adm.NewRoot().Call(t.Ctx(), c, "a new root passphrase")
			return err
		}},
		{"io.vaultd.admin.UseRoot", func(c *varlink.Connection) error {
			_, _, err := adm.UseRoot().Call(t.Ctx(), c, "0123456789abcdef")
			return err
		}},
	}
}

func init() {
	// The main group, last (see above).
	register("bindings_admin_new_root", "NewRoot through the generated bindings: a sealed key file and a 16-hex-digit key_id; nothing changes", func(t *T) {
		c := t.Dial()
		before := t.listKeys(c, "before NewRoot")
		f1, id1 := t.newRoot(c, "mật khẩu gốc mới, conformance", "first")
		f2, id2 := t.newRoot(c, "mật khẩu gốc mới, conformance", "second")
		if id1 == id2 || f1 == f2 {
			t.Errorf("two NewRoot calls gave the same key_id (%s, %s) or the same key file", id1, id2)
		}
		t.wantState(c, "after NewRoot", "serving")
		if after := t.listKeys(c, "after NewRoot"); after.String() != before.String() {
			t.Errorf("NewRoot changed the keys: %v, then %v", before, after)
		}
		t.put(c, rootCollection, "NR-1", "after NewRoot")
		t.getBody(c, rootCollection, "NR-1", nil, "after NewRoot")
		_, _, err := adm.NewRoot().Call(t.Ctx(), c, "")
		t.adminInvalid("NewRoot with an empty passphrase", err, "passphrase")
	})

	register("use_root_invalid_key_id", "UseRoot with a malformed key_id, or one naming no waiting candidate, is admin.InvalidParameter key_id; nothing changes", func(t *T) {
		c := t.Dial()
		before := t.listKeys(c, "before")
		for _, id := range []string{"", "xyz", "0123456789abcde", "0123456789abcdef0", "zzzzzzzzzzzzzzzz",
			"0123456789abcdef ", strings.Repeat("0", 64)} {
			_, _, err := adm.UseRoot().Call(t.Ctx(), c, id)
			t.adminInvalid(fmt.Sprintf("UseRoot(%q)", id), err, "key_id")
		}
		var out map[string]interface{}
		err := adm.Dispatch_Error(c.Call(t.Ctx(), "io.vaultd.admin.UseRoot", map[string]interface{}{}, &out))
		t.adminInvalid("UseRoot without key_id", err, "key_id")
		err = adm.Dispatch_Error(c.Call(t.Ctx(), "io.vaultd.admin.UseRoot", map[string]interface{}{"key_id": 12345}, &out))
		t.adminInvalid("UseRoot with a number for key_id", err, "key_id")
		// Well-formed, but never returned by NewRoot.
		_, id := t.newRoot(c, "a waiting candidate", "for an unknown key_id")
		other := "0000000000000000"
		if id == other {
			other = "0000000000000001"
		}
		_, _, err = adm.UseRoot().Call(t.Ctx(), c, other)
		t.adminInvalid(fmt.Sprintf("UseRoot(%s), which NewRoot never returned", other), err, "key_id")
		if after := t.listKeys(c, "after the refused calls"); after.String() != before.String() {
			t.Errorf("refused UseRoot calls changed the keys: %v, then %v", before, after)
		}
		t.getBody(c, rootCollection, "NR-1", nil, "after NewRoot")
	})

	register("bindings_admin_use_root", "UseRoot through the generated bindings: keks (every KEK), key_id echoed; records written before read back, Puts work; the same key_id again is InvalidParameter key_id", func(t *T) {
		c := t.Dial()
		t.put(c, rootCollection, "UR-1", "before UseRoot, version 1")
		t.put(c, rootCollection, "UR-1", "before UseRoot, version 2")
		t.put(c, rootCollection, "UR-2", "")
		// Records under an older KEK too.
		t.rotateKey(c, "before UseRoot")
		t.put(c, rootCollection, "UR-3", "before UseRoot, under the newest KEK")
		before := t.listKeys(c, "before UseRoot")
		_, id := t.newRoot(c, "mật khẩu gốc, UseRoot", "for UseRoot")
		if !t.useRoot(c, id, "", len(before.keys)) {
			t.Fatalf("stopped: UseRoot failed")
		}
		t.wantState(c, "after UseRoot", "serving")
		if after := t.listKeys(c, "after UseRoot"); after.String() != before.String() {
			t.Errorf("UseRoot changed the KEK list: %v, then %v", before, after)
		}
		t.getBody(c, rootCollection, "UR-1", nil, "before UseRoot, version 2")
		t.getBody(c, rootCollection, "UR-1", i64(1), "before UseRoot, version 1")
		t.getBody(c, rootCollection, "UR-2", nil, "")
		t.getBody(c, rootCollection, "UR-3", nil, "before UseRoot, under the newest KEK")
		t.getBody(c, rootCollection, "NR-1", nil, "after NewRoot")
		if n := t.put(c, rootCollection, "UR-1", "after UseRoot"); n != 3 {
			t.Errorf("Put after UseRoot: version %d, want 3", n)
		}
		t.getBody(c, rootCollection, "UR-1", nil, "after UseRoot")
		t.put(c, rootCollection, "UR-4", "new after UseRoot")
		t.getBody(c, rootCollection, "UR-4", nil, "new after UseRoot")
		// The KEK life cycle goes on under the new root key, and the audit
		// trail (the signing key was re-wrapped) still verifies.
		v, _ := t.rotateKey(c, "after UseRoot")
		t.put(c, rootCollection, "UR-5", "under a KEK made after UseRoot")
		t.rewrapAll(c, nil, v)
		t.getBody(c, rootCollection, "UR-1", i64(1), "before UseRoot, version 1")
		t.getBody(c, rootCollection, "UR-5", nil, "under a KEK made after UseRoot")
		if _, _, _, err := aud.Verify().Call(t.Ctx(), c); !t.noErr("Verify after UseRoot", err) {
			return
		}
		if _, _, _, _, _, err := aud.Head().Call(t.Ctx(), c); !t.noErr("Head after UseRoot", err) {
			return
		}
		// The candidate is used: the same key_id again names none.
		_, _, err := adm.UseRoot().Call(t.Ctx(), c, id)
		t.adminInvalid(fmt.Sprintf("UseRoot(%s) a second time", id), err, "key_id")
		t.getBody(c, rootCollection, "UR-4", nil, "new after UseRoot")
	})

	register("use_root_stale_key_id", "NewRoot twice, UseRoot with the older key_id is admin.InvalidParameter key_id and changes nothing; the newer one still works", func(t *T) {
		c := t.Dial()
		_, older := t.newRoot(c, "the older candidate", "older")
		_, newer := t.newRoot(c, "the newer candidate", "newer")
		before := t.listKeys(c, "before")
		_, _, err := adm.UseRoot().Call(t.Ctx(), c, older)
		t.adminInvalid(fmt.Sprintf("UseRoot(%s) after another NewRoot", older), err, "key_id")
		if after := t.listKeys(c, "after the refused UseRoot"); after.String() != before.String() {
			t.Errorf("a refused UseRoot changed the keys: %v, then %v", before, after)
		}
		t.getBody(c, rootCollection, "UR-4", nil, "new after UseRoot")
		if t.useRoot(c, newer, "(the newer key_id, after the refused older one)", len(before.keys)) {
			t.getBody(c, rootCollection, "UR-1", i64(2), "before UseRoot, version 2")
			t.put(c, rootCollection, "UR-6", "after the second UseRoot")
			t.getBody(c, rootCollection, "UR-6", nil, "after the second UseRoot")
		}
		_, _, err = adm.UseRoot().Call(t.Ctx(), c, older)
		t.adminInvalid(fmt.Sprintf("UseRoot(%s) after the newer one was used", older), err, "key_id")
	})

	register("denied_admin_root", "NewRoot, UseRoot without the admin role are admin.AccessDenied", func(t *T) {
		t.wantDenied(rootDenied(t))
	})

	// The sealed group.
	register("sealed_admin_root", "sealed, NewRoot and UseRoot are admin.Sealed (no parameters)", func(t *T) {
		c := t.Dial()
		_, _, err := adm.NewRoot().Call(t.Ctx(), c, "a new root passphrase")
		t.wantSealed("NewRoot while sealed", err, "io.vaultd.admin")
		_, _, err = adm.UseRoot().Call(t.Ctx(), c, "0123456789abcdef")
		t.wantSealed("UseRoot while sealed", err, "io.vaultd.admin")
		t.wantState(c, "after NewRoot and UseRoot", "sealed")
	})
}
