package main

// io.vaultd.audit.AddCosignatures through the generated bindings: a
// cosignature/v1 (c2sp.org/tlog-cosignature) made here with Go's
// crypto/ed25519 and golang.org/x/mod/sumdb/note is stored, Prove then
// carries it, and note.Open opens the checkpoint with the witness's key;
// a checkpoint the vault did not sign is UnknownCheckpoint, a line that is
// not a cosignature InvalidParameter.

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	aud "vaultdconformance/gen/iovaultdaudit"
)

func cosignKeyHash(name string, pub ed25519.PublicKey) uint32 {
	sum := sha256.Sum256(append([]byte(name+"\n\x04"), pub...))
	return binary.BigEndian.Uint32(sum[:])
}

func cosignMessage(t uint64, text []byte) []byte {
	return append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), text...)
}

// witnessKey signs and verifies cosignature/v1 as note.Signer and
// note.Verifier.
type witnessKey struct {
	name string
	priv ed25519.PrivateKey
}

func (w *witnessKey) Name() string    { return w.name }
func (w *witnessKey) KeyHash() uint32 { return cosignKeyHash(w.name, w.priv.Public().(ed25519.PublicKey)) }
func (w *witnessKey) Sign(text []byte) ([]byte, error) {
	t := uint64(time.Now().Unix())
	sig := make([]byte, 8, 72)
	binary.BigEndian.PutUint64(sig, t)
	return append(sig, ed25519.Sign(w.priv, cosignMessage(t, text))...), nil
}
func (w *witnessKey) Verify(text, sig []byte) bool {
	return len(sig) == 72 && ed25519.Verify(w.priv.Public().(ed25519.PublicKey),
		cosignMessage(binary.BigEndian.Uint64(sig), text), sig[8:])
}

// cosign returns note (a signed checkpoint) with w's cosignature appended.
func (t *T) cosign(w *witnessKey, signed string) string {
	text := signed[:strings.Index(signed, "\n\n")+1]
	out, err := note.Sign(&note.Note{Text: text}, w)
	if err != nil {
		t.Fatalf("note.Sign: %v", err)
	}
	return signed + string(out[len(text)+1:])
}

func init() {
	register("audit_add_cosignatures", "AddCosignatures stores a cosignature/v1 of a stored checkpoint, Prove carries it and note.Open verifies it; other checkpoints and non-cosignatures are refused", func(t *T) {
		c := t.Dial()
		size, _, _, _, cp, _, _, _, _, _, _, err := aud.Prove().Call(t.Ctx(), c, int64p(0), nil, nil, nil, nil, nil)
		if !t.noErr("Prove", err) || cp == nil {
			t.Fatalf("Prove: no checkpoint")
		}
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		w := &witnessKey{"witness.conformance.example/w1", priv}
		gotSize, added, ignored, unchanged, err := aud.AddCosignatures().Call(t.Ctx(), c, t.cosign(w, *cp))
		if t.noErr("AddCosignatures", err) && (gotSize != size || added != 1 || ignored != 0 || unchanged != 0) {
			t.Errorf("AddCosignatures: size %d added %d ignored %d unchanged %d", gotSize, added, ignored, unchanged)
		}
		_, _, _, _, cp2, _, _, _, _, _, _, err := aud.Prove().Call(t.Ctx(), c, int64p(0), nil, nil, nil, nil, int64p(size))
		if t.noErr("Prove after", err) {
			if cp2 == nil || !strings.HasPrefix(*cp2, *cp) {
				t.Fatalf("Prove's checkpoint lost the vault's own: %v", cp2)
			}
			if _, err := note.Open([]byte(*cp2), note.VerifierList(w)); err != nil {
				t.Errorf("note.Open with the witness's key: %v", err)
			}
		}
		// Another size: the vault signed no such checkpoint.
		other := strings.Replace(*cp, fmt.Sprintf("\n%d\n", size), fmt.Sprintf("\n%d\n", size+1000), 1)
		_, _, _, _, err = aud.AddCosignatures().Call(t.Ctx(), c, t.cosign(w, other))
		if _, ok := err.(*aud.UnknownCheckpoint); !ok {
			t.Errorf("AddCosignatures of a checkpoint never signed: %s, want UnknownCheckpoint", describe(err))
		}
		for _, tc := range []struct{ name, note string }{
			{"no cosignature", *cp},
			{"not a note", "checkpoint"},
			{"a plain signature", *cp + "— w.example/x AAAAAAAA\n"},
		} {
			_, _, _, _, err = aud.AddCosignatures().Call(t.Ctx(), c, tc.note)
			if _, ok := err.(*aud.InvalidParameter); !ok {
				t.Errorf("AddCosignatures %s: %s, want InvalidParameter", tc.name, describe(err))
			}
		}
	})
}
