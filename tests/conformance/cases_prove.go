package main

// io.vaultd.audit.Prove through the generated bindings, its proofs checked
// with Go's canonical golang.org/x/mod/sumdb/tlog (Debian's
// golang-golang-x-mod-dev).

import (
	"golang.org/x/mod/sumdb/tlog"

	"github.com/varlink/go/varlink"

	aud "vaultdconformance/gen/iovaultdaudit"
)

func int64p(n int64) *int64 { return &n }

func (t *T) hash(what, s string) tlog.Hash {
	h, err := tlog.ParseHash(s)
	if err != nil {
		t.Fatalf("%s: not a base64 hash: %q", what, s)
	}
	return h
}

func (t *T) hashes(what string, list *[]string) []tlog.Hash {
	if list == nil {
		t.Fatalf("%s: no hashes", what)
	}
	var out []tlog.Hash
	for _, s := range *list {
		out = append(out, t.hash(what, s))
	}
	return out
}

// proveLine asks for line seq's inclusion proof in the tree of size lines
// and checks it with tlog.CheckRecord; returns the root.
func (t *T) proveLine(c *varlink.Connection, seq, size int64) tlog.Hash {
	gotSize, _, _, root, _, lines, _, _, _, _, _, err := aud.Prove().Call(t.Ctx(), c, int64p(seq), nil, nil, nil, nil,
		int64p(size))
	if !t.noErr("Prove seq", err) {
		return tlog.Hash{}
	}
	if gotSize != size || lines == nil || len(*lines) != 1 || (*lines)[0].Seq != seq {
		t.Fatalf("Prove seq %d size %d: size %d lines %v", seq, size, gotSize, lines)
	}
	l := (*lines)[0]
	th := t.hash("root", root)
	p := t.hashes("inclusion", &l.Inclusion)
	if err := tlog.CheckRecord(p, size, th, seq, tlog.RecordHash([]byte(l.Line))); err != nil {
		t.Errorf("tlog.CheckRecord rejects Prove's proof of line %d in %d: %v", seq, size, err)
	}
	wrong := tlog.RecordHash([]byte(l.Line + " "))
	if err := tlog.CheckRecord(p, size, th, seq, wrong); err == nil {
		t.Errorf("tlog.CheckRecord accepts the proof for another line")
	}
	return th
}

func init() {
	register("prove_inclusion_and_consistency_check_with_go_tlog", "Prove's inclusion and consistency proofs pass tlog.CheckRecord and tlog.CheckTree", func(t *T) {
		c := t.Dial()
		lines, _, _, _, _, err := aud.Head().Call(t.Ctx(), c)
		if !t.noErr("Head", err) {
			return
		}
		// Head's own line is line `lines`: the tree holds lines+1 now.
		size := lines + 1
		oldSize := (size + 1) / 2
		newRoot := t.proveLine(c, 0, size)
		t.proveLine(c, size-1, size)
		t.proveLine(c, oldSize/2, size)
		oldRoot := t.proveLine(c, oldSize-1, oldSize)
		gotSize, _, _, root, _, _, _, gotOld, oldRootB64, _, cons, err := aud.Prove().Call(t.Ctx(), c, nil,
			int64p(oldSize), nil, nil, nil, int64p(size))
		if !t.noErr("Prove old_size", err) {
			return
		}
		if gotSize != size || gotOld == nil || *gotOld != oldSize || oldRootB64 == nil ||
			t.hash("root", root) != newRoot || t.hash("old_root", *oldRootB64) != oldRoot {
			t.Fatalf("Prove old_size %d size %d: roots or sizes differ from the inclusion proofs'", oldSize, size)
		}
		p := t.hashes("consistency", cons)
		if err := tlog.CheckTree(p, size, newRoot, oldSize, oldRoot); err != nil {
			t.Errorf("tlog.CheckTree rejects Prove's consistency proof %d -> %d: %v", oldSize, size, err)
		}
		if len(p) > 0 {
			p[0][0] ^= 1
			if tlog.CheckTree(p, size, newRoot, oldSize, oldRoot) == nil {
				t.Errorf("tlog.CheckTree accepts a changed consistency proof")
			}
		}
	})

	register("prove_invalid_parameters", "Prove without exactly one of seq, old_size, collection/id, or with sizes beyond the trail, is InvalidParameter", func(t *T) {
		c := t.Dial()
		coll, id := "conf-prove", "P-1"
		for _, tc := range []struct {
			name           string
			seq, old, size *int64
			collection, id *string
		}{
			{"none", nil, nil, nil, nil, nil},
			{"seq and old_size", int64p(0), int64p(1), nil, nil, nil},
			{"seq and record", int64p(0), nil, nil, &coll, &id},
			{"seq beyond size", int64p(5), nil, int64p(5), nil, nil},
			{"size beyond the trail", int64p(0), nil, int64p(1 << 40), nil, nil},
			{"size 0", int64p(0), nil, int64p(0), nil, nil},
			{"old_size above size", nil, int64p(3), int64p(2), nil, nil},
			{"old_size 0", nil, int64p(0), int64p(2), nil, nil},
		} {
			_, _, _, _, _, _, _, _, _, _, _, err := aud.Prove().Call(t.Ctx(), c, tc.seq, tc.old, tc.collection, tc.id,
				nil, tc.size)
			if _, ok := err.(*aud.InvalidParameter); !ok {
				t.Errorf("Prove %s: %s, want InvalidParameter", tc.name, describe(err))
			}
		}
	})
}
