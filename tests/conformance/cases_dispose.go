package main

// io.vaultd.records retention, hold and disposal (issue #13).

import (
	rec "vaultdconformance/gen/iovaultdrecords"
)

func init() {
	register("records_hold_due_dispose", "SetHold, ListHolds, Due, Dispose and OnHold, RetentionActive, Disposed", func(t *T) {
		c := t.Dial()
		if _, err := rec.Put().Call(t.Ctx(), c, "conf-disp", "D-1", b64("old"), nil, str("2000-01-01"), nil); !t.noErr("Put retain_until", err) {
			return
		}
		t.put(c, "conf-disp", "D-2", "kept")
		_, _, _, err := rec.Dispose().Call(t.Ctx(), c, "conf-disp", "D-2", "test")
		if t.wantErr("Dispose before retention ends", err, "io.vaultd.records.RetentionActive") {
			if e, ok := err.(*rec.RetentionActive); !ok || e.Id != "D-2" || e.Reason == "" {
				t.Errorf("RetentionActive: %+v", err)
			}
		}
		held, err := rec.SetHold().Call(t.Ctx(), c, "conf-disp", "D-1", true, "thanh tra")
		if t.noErr("SetHold", err) && !held {
			t.Errorf("SetHold: held false")
		}
		holds, _, err := rec.ListHolds().Call(t.Ctx(), c, str("conf-disp"), nil, nil)
		if t.noErr("ListHolds", err) && (len(holds) != 1 || holds[0].Id != "D-1" || holds[0].Reason != "thanh tra") {
			t.Errorf("ListHolds: %+v", holds)
		}
		_, _, _, err = rec.Dispose().Call(t.Ctx(), c, "conf-disp", "D-1", "test")
		t.wantErr("Dispose of a held record", err, "io.vaultd.records.OnHold")
		if _, err = rec.SetHold().Call(t.Ctx(), c, "conf-disp", "D-1", false, "closed"); !t.noErr("SetHold false", err) {
			return
		}
		due, _, err := rec.Due().Call(t.Ctx(), c, "conf-disp", nil, nil)
		if t.noErr("Due", err) && (len(due) != 1 || due[0].Id != "D-1" || due[0].Version != 1) {
			t.Errorf("Due: %+v", due)
		}
		versions, shredded, _, err := rec.Dispose().Call(t.Ctx(), c, "conf-disp", "D-1", "expired")
		if t.noErr("Dispose", err) && (versions != 1 || shredded != 1) {
			t.Errorf("Dispose: versions %d shredded %d", versions, shredded)
		}
		_, _, _, _, err = rec.Get().Call(t.Ctx(), c, "conf-disp", "D-1", nil)
		if t.wantErr("Get of a disposed record", err, "io.vaultd.records.Disposed") {
			if e, ok := err.(*rec.Disposed); !ok || e.Reason != "expired" || e.Versions != 1 || !rfc3339Micro.MatchString(e.Time) {
				t.Errorf("Disposed: %+v", err)
			}
		}
	})
}
