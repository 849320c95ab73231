package gateway

import (
	"slices"
	"sort"
	"strings"
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

// TestOpenRPCNamesTheAuditorsMethods: the document tells the auditor token's holder
// which methods it may call; that list is the served read-only methods.
func TestOpenRPCNamesTheAuditorsMethods(t *testing.T) {
	spec, err := LoadOpenRPC(docs.OpenRPC)
	if err != nil {
		t.Fatal(err)
	}
	desc := spec.Info.Description
	i := strings.Index(desc, "may call the read-only methods (")
	if i < 0 {
		t.Fatal("the document's description does not list the auditor token's methods")
	}
	listed := desc[i+len("may call the read-only methods ("):]
	listed = listed[:strings.Index(listed, ")")]
	names := strings.Split(listed, ", ")
	sort.Strings(names)
	if want := (&Server{}).ReadOnlyRPCMethods(); !slices.Equal(names, want) {
		t.Fatalf("the document lists %v for the auditor token; the read-only methods are %v", names, want)
	}
}
