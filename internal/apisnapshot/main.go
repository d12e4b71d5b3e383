// Command apisnapshot lists the exported API of every public package of the
// module (everything outside internal/ and examples/), one declaration a line,
// without doc comments or bodies. make check compares the listing with the
// checked-in api.txt, so any change of the public API is a visible diff that a
// reviewer sees; `make api` rewrites the file after an intended change.
//
//	go run ./internal/apisnapshot            # print the listing
//	go run ./internal/apisnapshot -check     # fail if it differs from api.txt
//	go run ./internal/apisnapshot -write     # rewrite api.txt
//	go run ./internal/apisnapshot -count     # exported identifiers per package
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

const snapshot = "internal/apisnapshot/api.txt"

func main() {
	check := flag.Bool("check", false, "compare with "+snapshot+" and fail on any difference")
	write := flag.Bool("write", false, "rewrite "+snapshot)
	count := flag.Bool("count", false, "print the number of exported identifiers and fields per package")
	flag.Parse()
	module, err := modulePath()
	if err != nil {
		fatal(err)
	}
	pkgs, err := listAPI(".", module)
	if err != nil {
		fatal(err)
	}
	var buf bytes.Buffer
	for _, p := range pkgs {
		for _, l := range p.lines {
			fmt.Fprintf(&buf, "%s: %s\n", p.path, l)
		}
	}
	switch {
	case *count:
		total, fields := 0, 0
		for _, p := range pkgs {
			fmt.Printf("%-60s %4d identifiers %4d fields\n", p.path, p.idents, p.fields)
			total, fields = total+p.idents, fields+p.fields
		}
		fmt.Printf("%-60s %4d identifiers %4d fields\n", "total", total, fields)
	case *write:
		if err := os.WriteFile(snapshot, buf.Bytes(), 0o644); err != nil {
			fatal(err)
		}
	case *check:
		old, err := os.ReadFile(snapshot)
		if err != nil {
			fatal(err)
		}
		if !bytes.Equal(old, buf.Bytes()) {
			fmt.Fprintln(os.Stderr, "the exported API differs from "+snapshot+":")
			printDiff(string(old), buf.String())
			fmt.Fprintln(os.Stderr, "if the change is intended, run `make api`, commit api.txt and add a CHANGELOG.md entry")
			os.Exit(1)
		}
	default:
		os.Stdout.Write(buf.Bytes())
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "apisnapshot:", err)
	os.Exit(2)
}

func modulePath() (string, error) {
	b, err := os.ReadFile("go.mod")
	if err != nil {
		return "", fmt.Errorf("run from the module root: %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "module "); ok {
			return strings.TrimSpace(rest), nil
		}
	}
	return "", fmt.Errorf("go.mod names no module")
}

type pkgAPI struct {
	path           string
	lines          []string
	idents, fields int
}

// listAPI walks root for public packages and lists each one's exported API.
func listAPI(root, module string) ([]pkgAPI, error) {
	var out []pkgAPI
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "internal" || name == "examples" || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		p, err := packageAPI(path)
		if err != nil || p == nil {
			return err
		}
		p.path = module
		if path != root {
			p.path += "/" + filepath.ToSlash(path)
		}
		out = append(out, *p)
		return nil
	})
	return out, err
}

func packageAPI(dir string) (*pkgAPI, error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []*ast.File
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		if f.Name.Name == "main" {
			return nil, nil
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, nil
	}
	p := &pkgAPI{}
	for _, f := range files {
		for _, decl := range f.Decls {
			p.add(fset, decl)
		}
	}
	sort.Strings(p.lines)
	return p, nil
}

func (p *pkgAPI) add(fset *token.FileSet, decl ast.Decl) {
	switch d := decl.(type) {
	case *ast.FuncDecl:
		if !d.Name.IsExported() || (d.Recv != nil && !exportedRecv(d.Recv)) {
			return
		}
		d.Body, d.Doc = nil, nil
		p.lines = append(p.lines, render(fset, d))
		p.idents++
	case *ast.GenDecl:
		for _, spec := range d.Specs {
			switch s := spec.(type) {
			case *ast.TypeSpec:
				if !s.Name.IsExported() {
					continue
				}
				s.Doc, s.Comment = nil, nil
				p.fields += stripUnexported(s.Type)
				p.lines = append(p.lines, "type "+render(fset, s))
				p.idents++
			case *ast.ValueSpec:
				for i, n := range s.Names {
					if !n.IsExported() {
						continue
					}
					line := d.Tok.String() + " " + n.Name
					if s.Type != nil {
						line += " " + render(fset, s.Type)
					}
					if d.Tok == token.CONST && i < len(s.Values) {
						line += " = " + render(fset, s.Values[i])
					}
					p.lines = append(p.lines, line)
					p.idents++
				}
			}
		}
	}
}

func exportedRecv(fl *ast.FieldList) bool {
	t := fl.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.IndexExpr:
			t = x.X
		case *ast.IndexListExpr:
			t = x.X
		case *ast.Ident:
			return x.IsExported()
		default:
			return false
		}
	}
}

// stripUnexported removes unexported fields and methods and all comments from a
// struct or interface type, and returns how many exported ones remain.
func stripUnexported(t ast.Expr) int {
	var fl *ast.FieldList
	switch x := t.(type) {
	case *ast.StructType:
		fl = x.Fields
	case *ast.InterfaceType:
		fl = x.Methods
	default:
		return 0
	}
	n := 0
	kept := fl.List[:0]
	for _, f := range fl.List {
		f.Doc, f.Comment = nil, nil
		if len(f.Names) == 0 { // embedded
			kept = append(kept, f)
			continue
		}
		names := f.Names[:0]
		for _, nm := range f.Names {
			if nm.IsExported() {
				names = append(names, nm)
			}
		}
		if len(names) > 0 {
			f.Names = names
			kept = append(kept, f)
			n += len(names)
		}
	}
	fl.List = kept
	return n
}

func render(fset *token.FileSet, node any) string {
	var b bytes.Buffer
	cfg := printer.Config{Mode: printer.RawFormat}
	if err := cfg.Fprint(&b, token.NewFileSet(), node); err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	// One line a declaration: collapse the layout of struct and interface bodies.
	return strings.Join(strings.Fields(b.String()), " ")
}

// printDiff prints the lines only in old (-) and only in new (+).
func printDiff(old, new string) {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			if l != "" {
				m[l] = true
			}
		}
		return m
	}
	o, n := in(old), in(new)
	var lines []string
	for l := range o {
		if !n[l] {
			lines = append(lines, "- "+l)
		}
	}
	for l := range n {
		if !o[l] {
			lines = append(lines, "+ "+l)
		}
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i][2:] < lines[j][2:] })
	for _, l := range lines {
		fmt.Fprintln(os.Stderr, l)
	}
}
