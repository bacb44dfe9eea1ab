// gonote opens signed notes with Go's golang.org/x/mod/sumdb/note, as
// Debian ships it, and prints one verdict per note:
//
//	gonote VERIFIER_KEY NOTE_FILE...
//
// Each output line is "<file name without .note> <verdict>", the verdict
// one of ok, malformed, invalid-signature, unverified (note.Open with
// note.VerifierList of the one verifier); anything else note.Open returns
// is printed as "error: ..." and makes the exit status 1. The C driver
// (tests/notes/note-verdict.c) prints the same lines for lib/note.c.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// The package's errMalformedNote is not exported; its text is.
const malformedText = "malformed note"

func verdict(msg []byte, known note.Verifiers) (string, error) {
	_, err := note.Open(msg, known)
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case err == nil:
		return "ok", nil
	case errors.As(err, &unverified):
		return "unverified", nil
	case errors.As(err, &invalid):
		return "invalid-signature", nil
	case err.Error() == malformedText:
		return "malformed", nil
	}
	return "", err
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: gonote VERIFIER_KEY NOTE_FILE...")
		os.Exit(2)
	}
	v, err := note.NewVerifier(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "gonote: verifier key %q: %v\n", os.Args[1], err)
		os.Exit(2)
	}
	known := note.VerifierList(v)
	status := 0
	for _, path := range os.Args[2:] {
		name := strings.TrimSuffix(filepath.Base(path), ".note")
		msg, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gonote: %v\n", err)
			os.Exit(2)
		}
		out, err := verdict(msg, known)
		if err != nil {
			out, status = "error: "+err.Error(), 1
		}
		fmt.Printf("%s %s\n", name, out)
	}
	os.Exit(status)
}
