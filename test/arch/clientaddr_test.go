package arch

import (
	"go/ast"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// resolverCalls are the places a file calls clientaddr's resolvers, by the
// function they are in.
func resolverCalls(f httpFile) map[string][]string {
	out := map[string][]string{}
	pkg := f.importName(module + "/http/clientaddr")
	if pkg == "" {
		return out
	}
	isResolver := func(name string) bool { return name == "Resolve" || name == "ResolveClientAddr" }
	for _, d := range f.file.Decls {
		fn := "top level"
		if fd, ok := d.(*ast.FuncDecl); ok {
			fn = fd.Name.Name
			if fd.Recv != nil && len(fd.Recv.List) == 1 {
				fn = receiverName(fd.Recv.List[0].Type) + "." + fn
			}
		}
		ast.Inspect(d, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				if name, ok := qualified(call.Fun, pkg, isResolver); ok {
					key := filepath.Base(f.path) + " " + fn
					out[key] = append(out[key], f.where(call)+": clientaddr."+name)
				}
			}
			return true
		})
	}
	return out
}

// receiverName is a method's receiver type, without its pointer.
func receiverName(e ast.Expr) string {
	if s, ok := e.(*ast.StarExpr); ok {
		e = s.X
	}
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return "?"
}

// TestOneClientAddressResolver: a request's client address is resolved once, in
// one function of the web adapter, and read from the request's context
// everywhere else: two resolvers are two places to keep in step with the proxy
// trust settings, and two answers for one request.
func TestOneClientAddressResolver(t *testing.T) {
	places := map[string][]string{}
	for _, f := range httpFiles(t) {
		if filepath.Base(filepath.Dir(f.path)) == "clientaddr" {
			continue
		}
		for fn, calls := range resolverCalls(f) {
			places[fn] = append(places[fn], calls...)
		}
	}
	if len(places) != 1 {
		var lines []string
		for _, fn := range slices.Sorted(maps.Keys(places)) {
			lines = append(lines, fn+": "+strings.Join(places[fn], ", "))
		}
		t.Errorf("the client address is resolved in %d functions, want one:\n%s", len(places), strings.Join(lines, "\n"))
	}
}
