package http

import (
	"slices"
	"testing"

	"github.com/jfguard/jfguard/docs"
)

// TestOpenRPCDocumentMatchesTheServedMethods holds the control API to its contract:
// every method the server answers is described in docs/openrpc.json, and every
// method the document describes is served. The document is read from the docs
// package, the same bytes the binary embeds and rpc.discover returns.
func TestOpenRPCDocumentMatchesTheServedMethods(t *testing.T) {
	spec, err := LoadOpenRPC(docs.OpenRPC)
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, m := range spec.Methods {
		if slices.Contains(documented, m.Name) {
			t.Errorf("%s is described twice", m.Name)
		}
		documented = append(documented, m.Name)
	}
	served := (&Server{}).RPCMethods()
	for _, m := range served {
		if !slices.Contains(documented, m) {
			t.Errorf("%s is served but not in docs/openrpc.json", m)
		}
	}
	for _, m := range documented {
		if !slices.Contains(served, m) {
			t.Errorf("%s is in docs/openrpc.json but not served", m)
		}
	}
}
