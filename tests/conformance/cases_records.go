package main

// io.vaultd.records through the generated bindings, and its declared errors.

import (
	"encoding/base64"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/varlink/go/varlink"

	rec "vaultdconformance/gen/iovaultdrecords"
)

var rfc3339Micro = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)

func (t *T) put(c *varlink.Connection, coll, id, body string) int64 {
	v, err := rec.Put().Call(t.Ctx(), c, coll, id, b64(body), nil, nil, nil)
	if err != nil {
		t.Fatalf("Put %s/%s: %s", coll, id, describe(err))
	}
	return v
}

func init() {
	register("bindings_records_put_get", "Put and Get through the generated bindings", func(t *T) {
		c := t.Dial()
		if v := t.put(c, "conf-put", "R-1", "first"); v != 1 {
			t.Errorf("first Put: version %d, want 1", v)
		}
		if v := t.put(c, "conf-put", "R-1", "second body"); v != 2 {
			t.Errorf("second Put: version %d, want 2", v)
		}
		v, data, tm, size, err := rec.Get().Call(t.Ctx(), c, "conf-put", "R-1", nil)
		if t.noErr("Get", err) {
			body, derr := base64.StdEncoding.DecodeString(data)
			if v != 2 || derr != nil || string(body) != "second body" || size != int64(len("second body")) {
				t.Errorf("Get: version %d data %q size %d", v, data, size)
			}
			if !rfc3339Micro.MatchString(tm) {
				t.Errorf("Get: time %q is not RFC 3339 UTC with microseconds", tm)
			}
		}
		v, data, _, _, err = rec.Get().Call(t.Ctx(), c, "conf-put", "R-1", i64(1))
		if t.noErr("Get version 1", err) && (v != 1 || data != b64("first")) {
			t.Errorf("Get version 1: version %d data %q", v, data)
		}
		v, err = rec.Put().Call(t.Ctx(), c, "conf-put", "R-2", "", i64(0), nil, nil)
		if t.noErr("Put if_version 0 of a new record with an empty body", err) && v != 1 {
			t.Errorf("Put if_version 0: version %d", v)
		}
		if v, err = rec.Put().Call(t.Ctx(), c, "conf-put", "R-2", b64("x"), i64(1), nil, nil); t.noErr("Put if_version 1", err) && v != 2 {
			t.Errorf("Put if_version 1: version %d", v)
		}
	})

	register("bindings_records_delete", "Delete writes a tombstone; numbering goes on after it", func(t *T) {
		c := t.Dial()
		t.put(c, "conf-del", "D-1", "a")
		t.put(c, "conf-del", "D-1", "b")
		v, err := rec.Delete().Call(t.Ctx(), c, "conf-del", "D-1", nil)
		if t.noErr("Delete", err) && v != 3 {
			t.Errorf("Delete: version %d, want 3 (the tombstone)", v)
		}
		_, _, _, _, err = rec.Get().Call(t.Ctx(), c, "conf-del", "D-1", nil)
		t.wantErr("Get after Delete", err, "io.vaultd.records.NotFound")
		if _, data, _, _, err := rec.Get().Call(t.Ctx(), c, "conf-del", "D-1", i64(1)); t.noErr("Get version 1 after Delete", err) && data != b64("a") {
			t.Errorf("Get version 1 after Delete: %q", data)
		}
		if v := t.put(c, "conf-del", "D-1", "c"); v != 4 {
			t.Errorf("Put after Delete: version %d, want 4", v)
		}
		if v, err := rec.Delete().Call(t.Ctx(), c, "conf-del", "D-1", i64(4)); t.noErr("Delete if_version 4", err) && v != 5 {
			t.Errorf("Delete if_version: version %d, want 5", v)
		}
	})

	register("bindings_records_list", "List pages through live records in id order", func(t *T) {
		c := t.Dial()
		for i := 0; i < 5; i++ {
			t.put(c, "conf-list", fmt.Sprintf("L-%d", i), "x")
		}
		if _, err := rec.Delete().Call(t.Ctx(), c, "conf-list", "L-2", nil); !t.noErr("Delete", err) {
			return
		}
		var ids []string
		var after *string
		for pages := 0; pages < 10; pages++ {
			records, next, err := rec.List().Call(t.Ctx(), c, "conf-list", after, i64(2))
			if !t.noErr("List", err) {
				return
			}
			if len(records) > 2 {
				t.Errorf("List limit 2 returned %d records", len(records))
			}
			for _, r := range records {
				ids = append(ids, r.Id)
				if r.Version != 1 || !rfc3339Micro.MatchString(r.Updated) {
					t.Errorf("List: record %+v", r)
				}
			}
			if next == nil {
				break
			}
			after = next
		}
		if strings.Join(ids, " ") != "L-0 L-1 L-3 L-4" {
			t.Errorf("List pages gave %v, want L-0 L-1 L-3 L-4", ids)
		}
		records, next, err := rec.List().Call(t.Ctx(), c, "conf-list-empty", nil, nil)
		if t.noErr("List of an empty collection", err) && (len(records) != 0 || next != nil) {
			t.Errorf("List of an empty collection: %v next %v", records, next)
		}
	})

	register("bindings_records_history", "History lists every version, tombstones included, in pages", func(t *T) {
		c := t.Dial()
		t.put(c, "conf-hist", "H-1", "one")
		t.put(c, "conf-hist", "H-1", "two!")
		if _, err := rec.Delete().Call(t.Ctx(), c, "conf-hist", "H-1", nil); !t.noErr("Delete", err) {
			return
		}
		versions, deleted, next, err := rec.History().Call(t.Ctx(), c, "conf-hist", "H-1", nil, nil)
		if !t.noErr("History", err) {
			return
		}
		if len(versions) != 3 || !deleted || next != nil {
			t.Fatalf("History: %d versions, deleted %v, next %v", len(versions), deleted, next)
		}
		uid := int64(os.Getuid())
		for i, v := range versions {
			if v.Version != int64(i+1) || v.Deleted != (i == 2) || v.Uid != uid || !rfc3339Micro.MatchString(v.Time) {
				t.Errorf("History version %d: %+v", i+1, v)
			}
		}
		if versions[0].Size != 3 || versions[1].Size != 4 || versions[2].Size != 0 {
			t.Errorf("History sizes %d %d %d, want 3 4 0", versions[0].Size, versions[1].Size, versions[2].Size)
		}
		page, _, next, err := rec.History().Call(t.Ctx(), c, "conf-hist", "H-1", i64(1), i64(1))
		if t.noErr("History after_version 1 limit 1", err) {
			if len(page) != 1 || page[0].Version != 2 || next == nil || *next != 2 {
				t.Errorf("History page: %+v next %v", page, next)
			}
		}
	})

	register("records_not_found", "NotFound names collection, id and (when asked for) version", func(t *T) {
		c := t.Dial()
		_, _, _, _, err := rec.Get().Call(t.Ctx(), c, "conf-nf", "NOPE", nil)
		if t.wantErr("Get of a missing record", err, "io.vaultd.records.NotFound") {
			if e, ok := err.(*rec.NotFound); !ok || e.Collection != "conf-nf" || e.Id != "NOPE" || e.Version != nil {
				t.Errorf("NotFound: %s", describe(err))
			}
		}
		t.put(c, "conf-nf", "N-1", "x")
		_, _, _, _, err = rec.Get().Call(t.Ctx(), c, "conf-nf", "N-1", i64(9))
		if t.wantErr("Get of a missing version", err, "io.vaultd.records.NotFound") {
			if e, ok := err.(*rec.NotFound); !ok || e.Version == nil || *e.Version != 9 {
				t.Errorf("NotFound of version 9: %s", describe(err))
			}
		}
		_, _, _, _, err = rec.Get().Call(t.Ctx(), c, "conf-nf", "N-1", i64(0))
		t.wantErr("Get version 0", err, "io.vaultd.records.NotFound")
		_, err = rec.Delete().Call(t.Ctx(), c, "conf-nf", "NOPE", nil)
		t.wantErr("Delete of a missing record", err, "io.vaultd.records.NotFound")
		_, _, _, err = rec.History().Call(t.Ctx(), c, "conf-nf", "NOPE", nil, nil)
		t.wantErr("History of a missing record", err, "io.vaultd.records.NotFound")
	})

	register("records_conflict", "Conflict carries the record's current version", func(t *T) {
		c := t.Dial()
		t.put(c, "conf-cf", "C-1", "x")
		for _, tc := range []struct {
			what string
			call func() error
		}{
			{"Put if_version 5", func() error {
				_, err := rec.Put().Call(t.Ctx(), c, "conf-cf", "C-1", b64("y"), i64(5), nil, nil)
				return err
			}},
			{"Put if_version 0 of an existing record", func() error {
				_, err := rec.Put().Call(t.Ctx(), c, "conf-cf", "C-1", b64("y"), i64(0), nil, nil)
				return err
			}},
			{"Delete if_version 7", func() error {
				_, err := rec.Delete().Call(t.Ctx(), c, "conf-cf", "C-1", i64(7))
				return err
			}},
		} {
			err := tc.call()
			if t.wantErr(tc.what, err, "io.vaultd.records.Conflict") {
				if e, ok := err.(*rec.Conflict); !ok || e.Collection != "conf-cf" || e.Id != "C-1" || e.Current != 1 {
					t.Errorf("%s: %s, want current 1", tc.what, describe(err))
				}
			}
		}
	})

	register("records_invalid_parameter", "InvalidParameter names the parameter and says why", func(t *T) {
		c := t.Dial()
		for _, tc := range []struct {
			what, param string
			call        func() error
		}{
			{"Put to collection \"BAD NAME\"", "collection", func() error {
				_, err := rec.Put().Call(t.Ctx(), c, "BAD NAME", "X", "", nil, nil, nil)
				return err
			}},
			{"Put of id \"-x\"", "id", func() error {
				_, err := rec.Put().Call(t.Ctx(), c, "conf-ip", "-x", "", nil, nil, nil)
				return err
			}},
			{"Put of data that is not base64", "data", func() error {
				_, err := rec.Put().Call(t.Ctx(), c, "conf-ip", "X", "%%%", nil, nil, nil)
				return err
			}},
			{"List limit 0", "limit", func() error {
				_, _, err := rec.List().Call(t.Ctx(), c, "conf-ip", nil, i64(0))
				return err
			}},
			{"List limit 1001", "limit", func() error {
				_, _, err := rec.List().Call(t.Ctx(), c, "conf-ip", nil, i64(1001))
				return err
			}},
			{"Get with collection 7 (raw client)", "collection", func() error {
				var out map[string]interface{}
				return rec.Dispatch_Error(c.Call(t.Ctx(), "io.vaultd.records.Get",
					map[string]interface{}{"collection": 7, "id": "X"}, &out))
			}},
			{"Put without data (raw client)", "data", func() error {
				var out map[string]interface{}
				return rec.Dispatch_Error(c.Call(t.Ctx(), "io.vaultd.records.Put",
					map[string]interface{}{"collection": "conf-ip", "id": "X"}, &out))
			}},
		} {
			err := tc.call()
			if t.wantErr(tc.what, err, "io.vaultd.records.InvalidParameter") {
				if e, ok := err.(*rec.InvalidParameter); !ok || e.Parameter != tc.param || e.Reason == "" {
					t.Errorf("%s: %s, want parameter %q and a reason", tc.what, describe(err), tc.param)
				}
			}
		}
	})

	register("records_too_large", "a body over --max-body is TooLarge with parameter data and the limit", func(t *T) {
		c := t.Dial()
		big := strings.Repeat("z", int(*flagMaxBody)+1)
		_, err := rec.Put().Call(t.Ctx(), c, "conf-big", "B-1", b64(big), nil, nil, nil)
		if t.wantErr("Put of max-body+1 bytes", err, "io.vaultd.records.TooLarge") {
			if e, ok := err.(*rec.TooLarge); !ok || e.Parameter != "data" || e.Limit != *flagMaxBody {
				t.Errorf("TooLarge: %s, want parameter data, limit %d", describe(err), *flagMaxBody)
			}
		}
		if v := t.put(c, "conf-big", "B-1", big[1:]); v != 1 {
			t.Errorf("Put of exactly max-body bytes: version %d", v)
		}
	})
}
