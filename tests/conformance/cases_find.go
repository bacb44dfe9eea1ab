package main

// io.vaultd.records.Find: lookup by an index field's value (issue #13).

import (
	rec "vaultdconformance/gen/iovaultdrecords"
)

func init() {
	register("records_find", "Put with index terms, Find, and Find's InvalidParameter for a field not indexed", func(t *T) {
		c := t.Dial()
		if _, err := rec.CreateCollection().Call(t.Ctx(), c, "conf-find", nil, nil, &[]string{"so_cccd"}); !t.noErr("CreateCollection", err) {
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
