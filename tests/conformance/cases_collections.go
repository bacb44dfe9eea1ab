package main

// io.vaultd.records collections (issue #13): settings made by an admin,
// json content checked at Put, implicit collections, NFC names.

import (
	"github.com/varlink/go/varlink"

	rec "vaultdconformance/gen/iovaultdrecords"
)

func (t *T) collection(c *varlink.Connection, name string) (rec.Collection, bool) {
	col, err := rec.GetCollection().Call(t.Ctx(), c, name)
	return col, t.noErr("GetCollection "+name, err)
}

func init() {
	register("collections_settings", "CreateCollection, SetCollection, GetCollection and their errors", func(t *T) {
		c := t.Dial()
		idx := []string{"so_cccd"}
		col, err := rec.CreateCollection().Call(t.Ctx(), c, "conf-coll", str("10y"), str("json"), &idx, nil, nil)
		if t.noErr("CreateCollection", err) && (!col.Defined || col.Content != "json" || col.Retention != "10y" ||
			len(col.Index) != 1 || col.Created == nil || col.Live != 0) {
			t.Errorf("CreateCollection: %+v", col)
		}
		_, err = rec.CreateCollection().Call(t.Ctx(), c, "conf-coll", nil, nil, nil, nil, nil)
		t.wantErr("CreateCollection twice", err, "io.vaultd.records.CollectionExists")
		col, err = rec.SetCollection().Call(t.Ctx(), c, "conf-coll", str("18m"), nil, nil, nil)
		if t.noErr("SetCollection", err) && (col.Retention != "18m" || col.Content != "json") {
			t.Errorf("SetCollection: %+v", col)
		}
		_, err = rec.SetCollection().Call(t.Ctx(), c, "conf-none", str("1y"), nil, nil, nil)
		t.wantErr("SetCollection of an undefined collection", err, "io.vaultd.records.CollectionNotFound")
		_, err = rec.GetCollection().Call(t.Ctx(), c, "conf-none")
		t.wantErr("GetCollection of an unknown collection", err, "io.vaultd.records.CollectionNotFound")
	})

	register("collections_json_content", "a json collection refuses a body that is no JSON object, naming where", func(t *T) {
		c := t.Dial()
		_, err := rec.CreateCollection().Call(t.Ctx(), c, "conf-json", nil, str("json"), nil, nil, nil)
		t.noErr("CreateCollection", err)
		t.put(c, "conf-json", "J-1", `{"ho_ten": "Lê Thị B"}`)
		_, err = rec.Put().Call(t.Ctx(), c, "conf-json", "J-2", b64("{\"a\": 1,\n \"b\": ?}"), nil, nil, nil)
		if t.wantErr("Put of a body that is not JSON", err, "io.vaultd.records.InvalidContent") {
			if e, ok := err.(*rec.InvalidContent); !ok || e.Parameter != "data" || e.Line != 2 || e.Column != 7 ||
				e.Position != 15 || e.Reason == "" {
				t.Errorf("InvalidContent: %+v", err)
			}
		}
	})

	register("collections_implicit_and_list", "implicit collections keep today's defaults; ListCollections lists them", func(t *T) {
		c := t.Dial()
		t.put(c, "conf-impl", "I-1", "any bytes")
		if col, ok := t.collection(c, "conf-impl"); ok && (col.Defined || col.Content != "bytes" ||
			col.Retention != "none" || col.Live != 1 || col.Created != nil) {
			t.Errorf("implicit collection: %+v", col)
		}
		list, err := rec.ListCollections().Call(t.Ctx(), c)
		if t.noErr("ListCollections", err) {
			found := false
			for i, col := range list {
				found = found || col.Collection == "conf-impl"
				if i > 0 && list[i-1].Collection >= col.Collection {
					t.Errorf("ListCollections: not in name order at %q", col.Collection)
				}
			}
			if !found {
				t.Errorf("ListCollections: conf-impl missing")
			}
		}
	})

	register("names_unicode_nfc", "UTF-8 ids and collections are kept in NFC", func(t *T) {
		c := t.Dial()
		nfd := "ho\u0302\u0300-so\u031b" // hồ-sơ, decomposed
		id := "123/Q\u0110-UBND"
		t.put(c, nfd, id, "x")
		_, data, _, _, err := rec.Get().Call(t.Ctx(), c, "h\u1ed3-s\u01a1", id, nil)
		if t.noErr("Get by the NFC name", err) && data != b64("x") {
			t.Errorf("Get by the NFC name: %q", data)
		}
		_, err = rec.Put().Call(t.Ctx(), c, "conf-names", "a\u202eb", b64("x"), nil, nil, nil)
		t.wantErr("Put of an id with a bidi override", err, "io.vaultd.records.InvalidParameter")
	})
}
