package arch

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/events"
)

// root is the module's directory, from this package's (test/arch).
var root = filepath.Join("..", "..")

const (
	module     = "github.com/jfguard/jfguard"
	eventsPath = module + "/events"
)

// goTool is the go command on the PATH, or the one under $GOROOT.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if r := os.Getenv("GOROOT"); r != "" {
		if p := filepath.Join(r, "bin", "go"); fileExists(p) {
			return p
		}
	}
	t.Fatal("no go command to list dependencies with: put go on the PATH or set GOROOT")
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestDomainAndEventsKnowNothingOfNATS: the domain's rules and the event types
// build without any package of github.com/nats-io, so they can be tested, fuzzed
// and read without a message bus; the JetStream adapter is events/store.
func TestDomainAndEventsKnowNothingOfNATS(t *testing.T) {
	for _, pkg := range []string{module + "/domain", eventsPath} {
		out, err := exec.Command(goTool(t), "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		var nats []string
		for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
			if strings.HasPrefix(sc.Text(), "github.com/nats-io/") {
				nats = append(nats, sc.Text())
			}
		}
		if len(nats) > 0 {
			t.Errorf("%s depends on %s: keep NATS in events/store, events/shared and embed", pkg, strings.Join(nats, ", "))
		}
	}
}

// httpFile is a non-test Go file of the web adapter (http/ and its subpackages),
// parsed.
type httpFile struct {
	path string
	fset *token.FileSet
	file *ast.File
}

// httpFiles parses every non-test Go file under http/.
func httpFiles(t *testing.T) []httpFile {
	t.Helper()
	var out []httpFile
	dir := filepath.Join(root, "http")
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == "testdata":
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go"):
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		out = append(out, httpFile{path: path, fset: fset, file: f})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no Go files under %s", dir)
	}
	return out
}

// importName is the name f refers to the package path by, or "" when f does not
// import it.
func (f httpFile) importName(path string) string {
	for _, imp := range f.file.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == path {
			if imp.Name != nil {
				return imp.Name.Name
			}
			return path[strings.LastIndex(path, "/")+1:]
		}
	}
	return ""
}

// where is a node's file and line.
func (f httpFile) where(n ast.Node) string {
	p := f.fset.Position(n.Pos())
	rel, _ := filepath.Rel(root, p.Filename)
	return rel + ":" + strconv.Itoa(p.Line)
}

// qualified reports whether e is pkg.name for one of names, and which.
func qualified(e ast.Expr, pkg string, names func(string) bool) (string, bool) {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return "", false
	}
	x, ok := sel.X.(*ast.Ident)
	if !ok || x.Name != pkg || !names(sel.Sel.Name) {
		return "", false
	}
	return sel.Sel.Name, true
}

// payloadTypes are the names of the Go types of the event catalog's payloads.
func payloadTypes(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, e := range events.Catalog() {
		p, err := events.Decode(events.Event{ID: "arch", Type: e.Type, Data: []byte(`{}`)})
		if err != nil {
			t.Fatalf("decode an empty %s: %v", e.Type, err)
		}
		out[reflect.TypeOf(p).Elem().Name()] = true
	}
	if len(out) == 0 {
		t.Fatal("the event catalog is empty")
	}
	return out
}

// eventWrites are the places a file builds an event payload (a composite literal
// of a catalog type, or new of one) or appends to a store.
func eventWrites(f httpFile, payloads map[string]bool) []string {
	var out []string
	pkg := f.importName(eventsPath)
	isPayload := func(name string) bool { return payloads[name] }
	ast.Inspect(f.file, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CompositeLit:
			if name, ok := qualified(n.Type, pkg, isPayload); pkg != "" && ok {
				out = append(out, f.where(n)+": builds events."+name)
			}
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "new" && len(n.Args) == 1 && pkg != "" {
				if name, ok := qualified(n.Args[0], pkg, isPayload); ok {
					out = append(out, f.where(n)+": builds events."+name)
				}
			}
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Append" {
				out = append(out, f.where(n)+": appends to a store")
			}
		}
		return true
	})
	return out
}

// TestWebAdapterRecordsNoEvent: no handler of http/ builds an event payload or
// appends to the event store; it calls a use case, which builds each event in one
// place and appends it. Value types of package events that are no payload
// (events.Device, …) are free to use.
func TestWebAdapterRecordsNoEvent(t *testing.T) {
	payloads := payloadTypes(t)
	var found []string
	for _, f := range httpFiles(t) {
		found = append(found, eventWrites(f, payloads)...)
	}
	if len(found) > 0 {
		t.Errorf("the web adapter records events itself; move this into a use case (projections/usecase):\n%s", strings.Join(found, "\n"))
	}
}
