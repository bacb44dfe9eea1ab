package main

// io.vaultd.records.Find: lookup by an index field's value (issue #13).

import (
	"strings"

	aud "vaultdconformance/gen/iovaultdaudit"
	rec "vaultdconformance/gen/iovaultdrecords"
)

func init() {
	register("records_find", "Put with index terms, Find, and Find's InvalidParameter for a field not indexed", func(t *T) {
		c := t.Dial()
		if _, err := rec.CreateCollection().Call(t.Ctx(), c, "conf-find", nil, nil, &[]string{"so_cccd"}, nil); !t.noErr("CreateCollection", err) {
			return
		}
		terms := map[string]string{"so_cccd": "037090001234"}
		for _, id := range []string{"F-2", "F-1"} {
			if _, err := rec.Put().Call(t.Ctx(), c, "conf-find", id, b64("x"), nil, nil, &terms); !t.noErr("Put index", err) {
				return
			}
		}
		t.put(c, "conf-find", "F-3", "no terms")
		ids, next, err := rec.Find().Call(t.Ctx(), c, "conf-find", "so_cccd", "037090001234", nil, nil)
		if t.noErr("Find", err) && (len(ids) != 2 || ids[0] != "F-1" || ids[1] != "F-2" || next != nil) {
			t.Errorf("Find: %v next %v", ids, next)
		}
		ids, next, err = rec.Find().Call(t.Ctx(), c, "conf-find", "so_cccd", "037090001234", nil, i64(1))
		if t.noErr("Find limit 1", err) && (len(ids) != 1 || next == nil || *next != "F-1") {
			t.Errorf("Find limit 1: %v next %v", ids, next)
		}
		_, _, err = rec.Find().Call(t.Ctx(), c, "conf-find", "ho_ten", "x", nil, nil)
		if t.wantErr("Find of a field not indexed", err, "io.vaultd.records.InvalidParameter") {
			if e, ok := err.(*rec.InvalidParameter); !ok || e.Parameter != "field" {
				t.Errorf("InvalidParameter: %+v", err)
			}
		}
	})
}

func init() {
	register("records_private_ids", "a collection with private ids: Put and Get by the real id, the trail's pseudonym resolved by audit.Resolve, NotFound for an unknown one", func(t *T) {
		c := t.Dial()
		yes := true
		if _, err := rec.CreateCollection().Call(t.Ctx(), c, "conf-private", nil, nil, nil, &yes); !t.noErr("CreateCollection private_ids", err) {
			return
		}
		t.put(c, "conf-private", "CCCD-099887766554", "x")
		if _, data, _, _, err := rec.Get().Call(t.Ctx(), c, "conf-private", "CCCD-099887766554", nil); t.noErr("Get", err) && data != b64("x") {
			t.Errorf("Get: %q", data)
		}
		col, err := rec.GetCollection().Call(t.Ctx(), c, "conf-private")
		if t.noErr("GetCollection", err) && !col.Private_ids {
			t.Errorf("GetCollection: private_ids false")
		}
		ids, _, err := rec.List().Call(t.Ctx(), c, "conf-private", nil, nil)
		if t.noErr("List", err) && (len(ids) != 1 || ids[0].Id != "CCCD-099887766554") {
			t.Errorf("List: %+v", ids)
		}
		// ListHolds shows the pseudonym, which Resolve turns back into the id.
		if _, err = rec.SetHold().Call(t.Ctx(), c, "conf-private", "CCCD-099887766554", true, "thanh tra"); !t.noErr("SetHold", err) {
			return
		}
		holds, err := rec.ListHolds().Call(t.Ctx(), c, str("conf-private"))
		if !t.noErr("ListHolds", err) || len(holds) != 1 || !strings.HasPrefix(holds[0].Id, "ps-") {
			t.Errorf("ListHolds: %+v", holds)
			return
		}
		id, err := aud.Resolve().Call(t.Ctx(), c, "conf-private", holds[0].Id)
		if t.noErr("Resolve", err) && id != "CCCD-099887766554" {
			t.Errorf("Resolve: %q", id)
		}
		_, err = aud.Resolve().Call(t.Ctx(), c, "conf-private", "ps-00000000000000000000000000000000")
		t.wantErr("Resolve of an unknown pseudonym", err, "io.vaultd.audit.NotFound")
	})
}
