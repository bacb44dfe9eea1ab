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
		if _, err := rec.CreateCollection().Call(t.Ctx(), c, "conf-find", nil, nil, &[]string{"so_cccd"}, nil, nil); !t.noErr("CreateCollection", err) {
			return
		}
		terms := map[string]string{"so_cccd": "037090001234"}
		for _, id := range []string{"F-2", "F-1"} {
			if _, err := rec.Put().Call(t.Ctx(), c, "conf-find", id, b64("x"), nil, nil, &terms); !t.noErr("Put index", err) {
				return
			}
		}
		t.put(c, "conf-find", "F-3", "no terms")
		ids, next, rebuilding, err := rec.Find().Call(t.Ctx(), c, "conf-find", "so_cccd", "037090001234", nil, nil)
		if t.noErr("Find", err) && (len(ids) != 2 || ids[0] != "F-1" || ids[1] != "F-2" || next != nil || rebuilding != nil) {
			t.Errorf("Find: %v next %v rebuilding %v", ids, next, rebuilding)
		}
		ids, next, _, err = rec.Find().Call(t.Ctx(), c, "conf-find", "so_cccd", "037090001234", nil, i64(1))
		if t.noErr("Find limit 1", err) && (len(ids) != 1 || next == nil || *next != "F-1") {
			t.Errorf("Find limit 1: %v next %v", ids, next)
		}
		_, _, _, err = rec.Find().Call(t.Ctx(), c, "conf-find", "ho_ten", "x", nil, nil)
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
		if _, err := rec.CreateCollection().Call(t.Ctx(), c, "conf-private", nil, nil, nil, &yes, nil); !t.noErr("CreateCollection private_ids", err) {
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
		holds, _, err := rec.ListHolds().Call(t.Ctx(), c, str("conf-private"), nil, nil)
		if !t.noErr("ListHolds", err) || len(holds) != 1 || !strings.HasPrefix(holds[0].Id, "ps-") {
			t.Errorf("ListHolds: %+v", holds)
			return
		}
		id, _, err := aud.Resolve().Call(t.Ctx(), c, "conf-private", &holds[0].Id, "thanh tra")
		if t.noErr("Resolve", err) && (id == nil || *id != "CCCD-099887766554") {
			t.Errorf("Resolve: %v", id)
		}
		_, _, err = aud.Resolve().Call(t.Ctx(), c, "conf-private", str("ps-00000000000000000000000000000000"), "thanh tra")
		t.wantErr("Resolve of an unknown pseudonym", err, "io.vaultd.audit.NotFound")
	})
}

func init() {
	register("records_private_name", "a collection with a private name: used and answered by its name, stored_as its pseudonym, which audit.Resolve turns back into the name; reserved pc- names refused", func(t *T) {
		c := t.Dial()
		yes := true
		col, err := rec.CreateCollection().Call(t.Ctx(), c, "conf-tên-riêng", nil, nil, nil, nil, &yes)
		if !t.noErr("CreateCollection private_name", err) {
			return
		}
		if col.Collection != "conf-tên-riêng" || col.Private_name == nil || !*col.Private_name ||
			col.Stored_as == nil || !strings.HasPrefix(*col.Stored_as, "pc-") {
			t.Errorf("CreateCollection: %+v", col)
			return
		}
		t.put(c, "conf-tên-riêng", "HS-1", "x")
		if _, data, _, _, err := rec.Get().Call(t.Ctx(), c, "conf-tên-riêng", "HS-1", nil); t.noErr("Get", err) && data != b64("x") {
			t.Errorf("Get: %q", data)
		}
		_, name, err := aud.Resolve().Call(t.Ctx(), c, *col.Stored_as, nil, "thanh tra")
		if t.noErr("Resolve", err) && (name == nil || *name != "conf-tên-riêng") {
			t.Errorf("Resolve: %v", name)
		}
		_, _, err = aud.Resolve().Call(t.Ctx(), c, "pc-00000000000000000000000000000000", nil, "thanh tra")
		t.wantErr("Resolve of a reserved name", err, "io.vaultd.audit.InvalidParameter")
		_, err = rec.CreateCollection().Call(t.Ctx(), c, "pc-00000000000000000000000000000000", nil, nil, nil, nil, nil)
		t.wantErr("CreateCollection of a reserved name", err, "io.vaultd.records.InvalidParameter")
	})
}

func init() {
	register("records_rebuild_index", "RebuildIndex: a new index key, a json collection's terms taken again from its bodies, a bytes collection's from the terms its Puts gave, CollectionNotFound", func(t *T) {
		c := t.Dial()
		json, idx := "json", &[]string{"so_cccd"}
		if _, err := rec.CreateCollection().Call(t.Ctx(), c, "conf-reindex", nil, &json, idx, nil, nil); !t.noErr("CreateCollection json", err) {
			return
		}
		if _, err := rec.CreateCollection().Call(t.Ctx(), c, "conf-reindex-b", nil, nil, idx, nil, nil); !t.noErr("CreateCollection bytes", err) {
			return
		}
		t.put(c, "conf-reindex", "R-1", `{"so_cccd": "037090001234"}`)
		terms := map[string]string{"so_cccd": "037090001234"}
		if _, err := rec.Put().Call(t.Ctx(), c, "conf-reindex-b", "B-1", b64("scan"), nil, nil, &terms); !t.noErr("Put index", err) {
			return
		}
		gen, rotated, done, records, current, reindexed, dropped, unreadable, err := rec.RebuildIndex().Call(t.Ctx(), c, "conf-reindex")
		if t.noErr("RebuildIndex json", err) && (gen != 2 || !rotated || !done || records != 1 || current != 0 || reindexed != 1 || dropped != 0 || unreadable != 0) {
			t.Errorf("RebuildIndex json: gen %d rotated %v done %v records %d current %d reindexed %d dropped %d unreadable %d",
				gen, rotated, done, records, current, reindexed, dropped, unreadable)
		}
		ids, _, _, err := rec.Find().Call(t.Ctx(), c, "conf-reindex", "so_cccd", "037090001234", nil, nil)
		if t.noErr("Find after RebuildIndex", err) && (len(ids) != 1 || ids[0] != "R-1") {
			t.Errorf("Find after RebuildIndex: %v", ids)
		}
		_, _, done, _, _, reindexed, dropped, _, err = rec.RebuildIndex().Call(t.Ctx(), c, "conf-reindex-b")
		if t.noErr("RebuildIndex bytes", err) && (!done || reindexed != 1 || dropped != 0) {
			t.Errorf("RebuildIndex bytes: done %v reindexed %d dropped %d (the terms given at Put are kept sealed)", done, reindexed, dropped)
		}
		ids, _, _, err = rec.Find().Call(t.Ctx(), c, "conf-reindex-b", "so_cccd", "037090001234", nil, nil)
		if t.noErr("Find after RebuildIndex bytes", err) && (len(ids) != 1 || ids[0] != "B-1") {
			t.Errorf("Find after RebuildIndex bytes: %v", ids)
		}
		_, _, _, _, _, _, _, _, err = rec.RebuildIndex().Call(t.Ctx(), c, "conf-no-such-collection")
		t.wantErr("RebuildIndex of an undefined collection", err, "io.vaultd.records.CollectionNotFound")
	})
}
