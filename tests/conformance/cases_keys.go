package main

// io.vaultd.admin's key lifecycle (RotateKey, Rewrap, ListKeys, RetireKey)
// through the generated bindings, its errors (KeyInUse, InvalidParameter,
// AccessDenied) and what it does to the data: records written under an old
// KEK still read back after a rotation, a rewrap and the old KEK's
// retirement.

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/varlink/go/varlink"

	adm "vaultdconformance/gen/iovaultdadmin"
	aud "vaultdconformance/gen/iovaultdaudit"
	rec "vaultdconformance/gen/iovaultdrecords"
)

// RFC 3339 UTC (fraction optional: the description does not fix one).
var rfc3339UTC = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)

// rewrapCalls bounds the calls a Rewrap loop may take before it is a failure.
const rewrapCalls = 10000

// keyList is one ListKeys reply, by version.
type keyList struct {
	keys    []adm.Key
	byVer   map[int64]adm.Key
	current int64
}

func (k keyList) String() string {
	var s []string
	for _, key := range k.keys {
		created := "null"
		if key.Created != nil {
			created = *key.Created
		}
		s = append(s, fmt.Sprintf("{version %d current %v created %s data_keys %d}", key.Version, key.Current, created, key.Data_keys))
	}
	return fmt.Sprint(s)
}

// oldDataKeys: data keys wrapped by every KEK but the current one.
func (k keyList) oldDataKeys() int64 {
	n := int64(0)
	for _, key := range k.keys {
		if !key.Current {
			n += key.Data_keys
		}
	}
	return n
}

// listKeys calls ListKeys and checks what holds for every reply: versions
// unique and positive, exactly one current, data_keys not negative, created
// RFC 3339 UTC or null (null only for the vault's first KEK, version 1).
func (t *T) listKeys(c *varlink.Connection, what string) keyList {
	keys, err := adm.ListKeys().Call(t.Ctx(), c)
	if err != nil {
		t.Fatalf("ListKeys (%s): %s", what, describe(err))
	}
	l := keyList{keys: keys, byVer: map[int64]adm.Key{}}
	currents := 0
	for _, k := range keys {
		if _, dup := l.byVer[k.Version]; dup || k.Version < 1 {
			t.Errorf("ListKeys (%s): version %d listed twice or not positive: %v", what, k.Version, l)
		}
		l.byVer[k.Version] = k
		if k.Current {
			currents++
			l.current = k.Version
		}
		if k.Data_keys < 0 {
			t.Errorf("ListKeys (%s): version %d data_keys %d", what, k.Version, k.Data_keys)
		}
		if k.Created == nil && k.Version != 1 {
			t.Errorf("ListKeys (%s): version %d has created null, but only the KEK made with the vault may", what, k.Version)
		}
		if k.Created != nil && !rfc3339UTC.MatchString(*k.Created) {
			t.Errorf("ListKeys (%s): version %d created %q is not RFC 3339 UTC", what, k.Version, *k.Created)
		}
	}
	if currents != 1 {
		t.Fatalf("ListKeys (%s): %d current versions, want exactly 1: %v", what, currents, l)
	}
	return l
}

func (t *T) rotateKey(c *varlink.Connection, what string) (version, previous int64) {
	version, previous, err := adm.RotateKey().Call(t.Ctx(), c)
	if err != nil {
		t.Fatalf("RotateKey (%s): %s", what, describe(err))
	}
	return version, previous
}

// rewrapAll calls Rewrap with limit until a reply says done; it checks each
// reply against the current version and returns how many data keys were
// re-wrapped in all.
func (t *T) rewrapAll(c *varlink.Connection, limit *int64, current int64) (total int64, calls int) {
	for calls < rewrapCalls {
		rewrapped, scanned, done, version, err := adm.Rewrap().Call(t.Ctx(), c, limit)
		calls++
		if err != nil {
			t.Fatalf("Rewrap call %d (limit %v): %s", calls, ptrStr(limit), describe(err))
		}
		if version != current {
			t.Errorf("Rewrap call %d: version %d, but the current KEK is %d", calls, version, current)
		}
		max := int64(1000)
		if limit != nil {
			max = *limit
		}
		if rewrapped < 0 || rewrapped > max || scanned < rewrapped {
			t.Errorf("Rewrap call %d (limit %v): rewrapped %d scanned %d", calls, ptrStr(limit), rewrapped, scanned)
		}
		total += rewrapped
		if done {
			return total, calls
		}
	}
	t.Fatalf("Rewrap (limit %v): not done after %d calls (%d re-wrapped)", ptrStr(limit), calls, total)
	return
}

func ptrStr(p *int64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// keyInUse checks err is KeyInUse for version, decoded by the binding.
func (t *T) keyInUse(what string, err error, version int64) *adm.KeyInUse {
	if !t.wantErr(what, err, "io.vaultd.admin.KeyInUse") {
		return nil
	}
	e, ok := err.(*adm.KeyInUse)
	if !ok {
		t.Errorf("%s: %s did not decode into the binding's KeyInUse", what, describe(err))
		return nil
	}
	if e.Version != version || e.Reason == "" || e.Data_keys < 0 {
		t.Errorf("%s: %s, want version %d and a reason", what, describe(err), version)
	}
	return e
}

// adminInvalid checks err is admin.InvalidParameter naming parameter.
func (t *T) adminInvalid(what string, err error, parameter string) {
	if !t.wantErr(what, err, "io.vaultd.admin.InvalidParameter") {
		return
	}
	if e, ok := err.(*adm.InvalidParameter); !ok || e.Parameter != parameter || e.Reason == "" {
		t.Errorf("%s: %s, want parameter %q and a reason", what, describe(err), parameter)
	}
}

func (t *T) getBody(c *varlink.Connection, coll, id string, version *int64, want string) {
	what := fmt.Sprintf("Get %s/%s version %s", coll, id, ptrStr(version))
	v, data, _, size, err := rec.Get().Call(t.Ctx(), c, coll, id, version)
	if !t.noErr(what, err) {
		return
	}
	if data != b64(want) || size != int64(len(want)) || (version != nil && v != *version) {
		t.Errorf("%s: version %d data %q size %d, want data %q", what, v, data, size, b64(want))
	}
}

// keysDenied: the key methods, for callers without the admin role.
func keysDenied(t *T) []deniedCall {
	return []deniedCall{
		{"io.vaultd.admin.RotateKey", func(c *varlink.Connection) error {
			_, _, err := adm.RotateKey().Call(t.Ctx(), c)
			return err
		}},
		{"io.vaultd.admin.RotateSigningKey", func(c *varlink.Connection) error {
			_, _, err := adm.RotateSigningKey().Call(t.Ctx(), c)
			return err
		}},
		{"io.vaultd.admin.Rewrap", func(c *varlink.Connection) error {
			_, _, _, _, err := adm.Rewrap().Call(t.Ctx(), c, nil)
			return err
		}},
		{"io.vaultd.admin.ListKeys", func(c *varlink.Connection) error {
			_, err := adm.ListKeys().Call(t.Ctx(), c)
			return err
		}},
		{"io.vaultd.admin.RetireKey", func(c *varlink.Connection) error {
			_, err := adm.RetireKey().Call(t.Ctx(), c, 1)
			return err
		}},
	}
}

func init() {
	register("bindings_admin_list_keys", "ListKeys through the generated bindings: one current KEK, which wraps a record just written", func(t *T) {
		c := t.Dial()
		before := t.listKeys(c, "first")
		t.put(c, "conf-keys", "KL-1", "listed")
		after := t.listKeys(c, "after a Put")
		if after.current != before.current {
			t.Fatalf("the current KEK changed from %d to %d without a RotateKey", before.current, after.current)
		}
		if got, was := after.byVer[after.current].Data_keys, before.byVer[before.current].Data_keys; got != was+1 {
			t.Errorf("after one Put the current KEK %d wraps %d data keys, before %d: %v", after.current, got, was, after)
		}
		var vs []int64
		for v := range after.byVer {
			vs = append(vs, v)
		}
		sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
		if len(vs) == 0 || vs[len(vs)-1] != after.current {
			t.Errorf("ListKeys: the current KEK %d is not the highest version: %v", after.current, after)
		}
	})

	register("bindings_admin_rotate_key", "RotateKey through the generated bindings: a new current version, previous is the old one", func(t *T) {
		c := t.Dial()
		before := t.listKeys(c, "before RotateKey")
		v, prev := t.rotateKey(c, "first")
		if prev != before.current {
			t.Errorf("RotateKey: previous %d, but the current KEK was %d", prev, before.current)
		}
		for old := range before.byVer {
			if v <= old {
				t.Errorf("RotateKey: version %d is not above every listed version (%v)", v, before)
			}
		}
		after := t.listKeys(c, "after RotateKey")
		k, ok := after.byVer[v]
		if !ok || !k.Current || k.Created == nil || k.Data_keys != 0 {
			t.Errorf("after RotateKey to %d: %v, want %d current, created set, data_keys 0", v, after, v)
		}
		if p, ok := after.byVer[prev]; !ok || p.Current || p.Data_keys != before.byVer[prev].Data_keys {
			t.Errorf("after RotateKey the previous KEK %d: %v, want it listed, not current, data_keys %d",
				prev, after, before.byVer[prev].Data_keys)
		}
		v2, prev2 := t.rotateKey(c, "second")
		if prev2 != v || v2 <= v {
			t.Errorf("second RotateKey: version %d previous %d, want previous %d and a higher version", v2, prev2, v)
		}
		// New data keys are wrapped by the new KEK at once.
		t.put(c, "conf-keys", "KR-1", "after rotation")
		if k := t.listKeys(c, "after RotateKey and a Put").byVer[v2]; k.Data_keys != 1 {
			t.Errorf("after RotateKey to %d and one Put it wraps %d data keys, want 1", v2, k.Data_keys)
		}
	})

	register("bindings_admin_rewrap", "Rewrap through the generated bindings: limit, resumption, done; then nothing is left under old KEKs", func(t *T) {
		c := t.Dial()
		t.put(c, "conf-keys", "KW-1", "one")
		t.put(c, "conf-keys", "KW-2", "two")
		v, _ := t.rotateKey(c, "before Rewrap")
		old := t.listKeys(c, "before Rewrap").oldDataKeys()
		if old < 2 {
			t.Errorf("after RotateKey older KEKs wrap %d data keys, want at least the 2 just written", old)
		}
		total, calls := t.rewrapAll(c, i64(1), v)
		if total != old || int64(calls) < old {
			t.Errorf("Rewrap limit 1: %d re-wrapped in %d calls, want %d re-wrapped (one a call at most)", total, calls, old)
		}
		if left := t.listKeys(c, "after Rewrap").oldDataKeys(); left != 0 {
			t.Errorf("after Rewrap until done older KEKs still wrap %d data keys", left)
		}
		// A new pass with the default limit finds nothing to do.
		rewrapped, scanned, done, version, err := adm.Rewrap().Call(t.Ctx(), c, nil)
		if t.noErr("Rewrap after done", err) && (rewrapped != 0 || !done || version != v || scanned < 2) {
			t.Errorf("Rewrap after done: rewrapped %d scanned %d done %v version %d, want 0, >= 2, true, %d",
				rewrapped, scanned, done, version, v)
		}
		rewrapped, _, _, _, err = adm.Rewrap().Call(t.Ctx(), c, i64(10000))
		if t.noErr("Rewrap limit 10000", err) && rewrapped != 0 {
			t.Errorf("Rewrap limit 10000 after done: rewrapped %d", rewrapped)
		}
	})

	register("bindings_admin_retire_key", "RetireKey through the generated bindings: a KEK that wraps nothing is destroyed and no longer listed", func(t *T) {
		c := t.Dial()
		v, prev := t.rotateKey(c, "before RetireKey")
		t.rewrapAll(c, nil, v)
		got, err := adm.RetireKey().Call(t.Ctx(), c, prev)
		if !t.noErr(fmt.Sprintf("RetireKey(%d) after Rewrap", prev), err) {
			return
		}
		if got != prev {
			t.Errorf("RetireKey(%d): version %d", prev, got)
		}
		l := t.listKeys(c, "after RetireKey")
		if _, listed := l.byVer[prev]; listed {
			t.Errorf("RetireKey(%d) succeeded, but ListKeys still lists it: %v", prev, l)
		}
		if l.current != v {
			t.Errorf("after RetireKey(%d) the current KEK is %d, want %d", prev, l.current, v)
		}
		_, err = adm.RetireKey().Call(t.Ctx(), c, prev)
		t.adminInvalid(fmt.Sprintf("RetireKey(%d) again", prev), err, "version")
	})

	register("key_in_use", "RetireKey of the current KEK, and of an old one that still wraps data keys, is KeyInUse; neither is destroyed", func(t *T) {
		c := t.Dial()
		cur := t.listKeys(c, "first").current
		_, err := adm.RetireKey().Call(t.Ctx(), c, cur)
		t.keyInUse(fmt.Sprintf("RetireKey(%d) of the current KEK", cur), err, cur)

		t.put(c, "conf-keys", "KU-1", "kept under the old KEK")
		v, prev := t.rotateKey(c, "without Rewrap")
		before := t.listKeys(c, "after RotateKey")
		n := before.byVer[prev].Data_keys
		if n < 1 {
			t.Errorf("after a Put and RotateKey the old KEK %d wraps %d data keys: %v", prev, n, before)
		}
		_, err = adm.RetireKey().Call(t.Ctx(), c, prev)
		if e := t.keyInUse(fmt.Sprintf("RetireKey(%d) of an old KEK that wraps data keys", prev), err, prev); e != nil && e.Data_keys != n {
			t.Errorf("KeyInUse says %d data keys, ListKeys %d", e.Data_keys, n)
		}
		_, err = adm.RetireKey().Call(t.Ctx(), c, v)
		t.keyInUse(fmt.Sprintf("RetireKey(%d) of the new current KEK", v), err, v)

		after := t.listKeys(c, "after KeyInUse")
		if k, ok := after.byVer[prev]; !ok || k.Data_keys != n || after.current != v {
			t.Errorf("after KeyInUse: %v, want %d listed with %d data keys and %d current", after, prev, n, v)
		}
		t.getBody(c, "conf-keys", "KU-1", nil, "kept under the old KEK")
	})

	register("key_rotation_lifecycle", "RotateKey, Put, Rewrap until done, RetireKey of the old KEK: every record still reads back", func(t *T) {
		c := t.Dial()
		t.put(c, "conf-life", "LC-1", "before rotation, version 1")
		t.put(c, "conf-life", "LC-1", "before rotation, version 2")
		t.put(c, "conf-life", "LC-2", "")
		t.put(c, "conf-life", "LC-3", "deleted later")
		if _, err := rec.Delete().Call(t.Ctx(), c, "conf-life", "LC-3", nil); !t.noErr("Delete", err) {
			return
		}
		v, old := t.rotateKey(c, "lifecycle")
		t.put(c, "conf-life", "LC-4", "after rotation")

		l := t.listKeys(c, "after RotateKey and a Put")
		if l.current != v || l.byVer[v].Data_keys < 1 {
			t.Errorf("after RotateKey to %d and a Put: %v, want %d current with data_keys >= 1", v, l, v)
		}
		if l.byVer[old].Data_keys < 4 {
			t.Errorf("the old KEK %d wraps %d data keys, want at least the 4 versions written before the rotation: %v",
				old, l.byVer[old].Data_keys, l)
		}
		oldKeys, newKeys := l.oldDataKeys(), l.byVer[v].Data_keys

		total, _ := t.rewrapAll(c, i64(2), v)
		if total != oldKeys {
			t.Errorf("Rewrap until done re-wrapped %d data keys; older KEKs wrapped %d", total, oldKeys)
		}
		l = t.listKeys(c, "after Rewrap")
		if k, ok := l.byVer[old]; !ok || k.Data_keys != 0 {
			t.Errorf("after Rewrap until done the old KEK %d: %v, want it listed with data_keys 0", old, l)
		}
		if l.current != v || l.byVer[v].Data_keys != newKeys+oldKeys {
			t.Errorf("after Rewrap the current KEK %d wraps %d data keys, want %d + %d: %v",
				v, l.byVer[v].Data_keys, newKeys, oldKeys, l)
		}

		got, err := adm.RetireKey().Call(t.Ctx(), c, old)
		if t.noErr(fmt.Sprintf("RetireKey(%d) after Rewrap", old), err) && got != old {
			t.Errorf("RetireKey(%d): version %d", old, got)
		}
		if _, listed := t.listKeys(c, "after RetireKey").byVer[old]; listed {
			t.Errorf("RetireKey(%d) succeeded, but ListKeys still lists it", old)
		}

		// Every record, old versions included, reads back as written.
		t.getBody(c, "conf-life", "LC-1", nil, "before rotation, version 2")
		t.getBody(c, "conf-life", "LC-1", i64(1), "before rotation, version 1")
		t.getBody(c, "conf-life", "LC-2", nil, "")
		t.getBody(c, "conf-life", "LC-3", i64(1), "deleted later")
		t.getBody(c, "conf-life", "LC-4", nil, "after rotation")
		// And writing goes on under the current KEK.
		if n := t.put(c, "conf-life", "LC-1", "after retirement"); n != 3 {
			t.Errorf("Put after RetireKey: version %d, want 3", n)
		}
		t.getBody(c, "conf-life", "LC-1", nil, "after retirement")
	})

	register("rewrap_invalid_limit", "Rewrap with limit outside 1-10000 is admin.InvalidParameter limit", func(t *T) {
		c := t.Dial()
		for _, limit := range []int64{0, 10001, -1} {
			_, _, _, _, err := adm.Rewrap().Call(t.Ctx(), c, i64(limit))
			t.adminInvalid(fmt.Sprintf("Rewrap limit %d", limit), err, "limit")
		}
	})

	register("retire_key_invalid_version", "RetireKey of no such version, or without one, is admin.InvalidParameter version", func(t *T) {
		c := t.Dial()
		l := t.listKeys(c, "first")
		unknown := int64(0)
		for v := int64(1); v < 256 && unknown == 0; v++ {
			if _, listed := l.byVer[v]; !listed && v > l.current {
				unknown = v
			}
		}
		for _, v := range []int64{unknown, 0, -1, 1 << 40} {
			_, err := adm.RetireKey().Call(t.Ctx(), c, v)
			t.adminInvalid(fmt.Sprintf("RetireKey(%d)", v), err, "version")
		}
		var out map[string]interface{}
		err := adm.Dispatch_Error(c.Call(t.Ctx(), "io.vaultd.admin.RetireKey", map[string]interface{}{}, &out))
		t.adminInvalid("RetireKey without version", err, "version")
		if after := t.listKeys(c, "after the refused calls"); after.String() != l.String() {
			t.Errorf("refused RetireKey calls changed the keys: %v, then %v", l, after)
		}
	})

	register("bindings_admin_rotate_signing_key", "RotateSigningKey through the generated bindings: previous is Head's key, Head then names the new one, and Verify follows the hand-over", func(t *T) {
		c := t.Dial()
		_, _, origin, before, _, err := aud.Head().Call(t.Ctx(), c)
		if !t.noErr("Head before RotateSigningKey", err) {
			return
		}
		next, previous, err := adm.RotateSigningKey().Call(t.Ctx(), c)
		if !t.noErr("RotateSigningKey", err) {
			return
		}
		if previous != before || next == before || !strings.HasPrefix(next, origin+"+") {
			t.Errorf("RotateSigningKey: verifier_key %q previous %q; Head said %q (origin %q)", next, previous, before, origin)
		}
		_, _, _, after, cp, err := aud.Head().Call(t.Ctx(), c)
		if t.noErr("Head after RotateSigningKey", err) && after != next {
			t.Errorf("Head after RotateSigningKey names %q, want the new key %q", after, next)
		}
		if cp == nil || !strings.Contains(*cp, "\nvaultd-next-key "+next+"\n") {
			t.Errorf("the checkpoint after RotateSigningKey does not hand over to %q: %v", next, cp)
		}
		if _, _, _, _, _, err := aud.Verify().Call(t.Ctx(), c); err != nil {
			t.Errorf("Verify after RotateSigningKey: %s", describe(err))
		}
	})

	register("denied_admin_keys", "RotateKey, RotateSigningKey, Rewrap, ListKeys, RetireKey without the admin role are admin.AccessDenied", func(t *T) {
		t.wantDenied(keysDenied(t))
	})
}
