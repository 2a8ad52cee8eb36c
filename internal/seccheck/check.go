// Command seccheck enforces the static rules of SECURITY.md that a
// compiler does not: how secrets are compared, encoded and drawn.
//
//	go run ./internal/seccheck [-allow internal/seccheck/allow.txt] [root]
//
// It checks the repository at root (default "."): the core module's
// non-test code is type-checked and searched for
//
//   - secret-compare (SECURITY 1): bytes.Equal, bytes.Compare,
//     slices.Equal, reflect.DeepEqual, strings.EqualFold, == or != with
//     an operand that holds a MAC, tag, commitment, key-check value, hash
//     or secret (see [secretOperand] for how one is recognised);
//   - secret-base64 (SECURITY 2): encoding/base64 encoding such an
//     operand, or decoding into a variable named as one;
//   - error-compare: == or != between an error and anything but nil or
//     io.EOF, which misses wrapped errors (the sentinels are meant for
//     errors.Is);
//
// and every non-test Go file of the repository (all modules, vendored and
// node_modules trees and testdata excluded) for
//
//   - math-rand (SECURITY 12): an import of math/rand or math/rand/v2;
//   - own-aes (SECURITY 3): an import of an AES implementation other than
//     crypto/aes, a declaration named like an AES table (sbox, te0, rcon,
//     gf_mul, ...) or an array literal that starts like the AES S-box.
//
// Each finding is either allowed by an entry of the allow-list file, whose
// every entry carries a reason, or it fails the run. An entry whose reason
// starts with "FIX:" marks a known real finding that someone must fix: it
// is reported as such and counted, and does not fail the run. An entry that
// matches nothing fails the run, so the list cannot go stale.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Finding is one violation of a rule.
type Finding struct {
	Rule string // secret-compare, secret-base64, math-rand, own-aes
	File string // slash-separated, relative to the root
	Line int
	Func string // enclosing function ("(*T).m", "f") or "" at top level
	Expr string // the offending expression or import path, as written
	Msg  string
}

// Key is how the allow-list names a finding: rule, file, enclosing
// function and expression; not the line, which moves with every edit.
func (f Finding) Key() string {
	return f.Rule + " " + f.File + " " + f.Func + " " + f.Expr
}

func (f Finding) String() string {
	fn := f.Func
	if fn == "" {
		fn = "-"
	}
	return fmt.Sprintf("%s:%d: %s: %s\n\tallow-list key: %s\t%s\t%s\t%s", f.File, f.Line, f.Rule, f.Msg, f.Rule, f.File, fn, f.Expr)
}

// secretWords are the words (of identifiers split at camelCase and
// underscores) that name a MAC, tag, commitment, key-check value, hash or
// secret.
var secretWords = map[string]bool{
	"mac": true, "macs": true, "hmac": true, "tag": true, "tags": true,
	"commitment": true, "commit": true, "check": true, "checksum": true,
	"digest": true, "hash": true, "sum": true, "sum256": true, "sum512": true,
	"secret": true, "secrets": true, "priv": true, "private": true,
	"seed": true, "shared": true, "passphrase": true, "expanded": true,
	"iv": true,
}

// keyWords name a secret when the next word is "key" or "keys": rootKey,
// chainKey, aesKey, messageKeys (but not root or chain alone).
var keyWords = map[string]bool{
	"root": true, "chain": true, "aes": true, "message": true, "cipher": true,
	"backup": true, "recovery": true, "pickle": true,
}

// splitWords splits an identifier into lower-case words at underscores and
// case changes: "theirMAC" → their, mac; "aes_key" → aes, key;
// "Sum256" → sum256.
func splitWords(name string) []string {
	var words []string
	var cur []rune
	rs := []rune(name)
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	for i, r := range rs {
		switch {
		case r == '_':
			flush()
			continue
		case unicode.IsUpper(r) && len(cur) > 0:
			prevLower := unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1])
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if prevLower || (unicode.IsUpper(rs[i-1]) && nextLower) {
				flush()
			}
		}
		cur = append(cur, r)
	}
	flush()
	return words
}

func secretName(name string) bool {
	words := splitWords(name)
	for i, w := range words {
		if secretWords[w] {
			return true
		}
		if keyWords[w] && i+1 < len(words) && (words[i+1] == "key" || words[i+1] == "keys") {
			return true
		}
	}
	return false
}

// secretProducers are functions whose result is a MAC, hash or secret,
// by package path and name ("" matches any package, for methods).
var secretProducers = map[string]bool{
	"crypto/sha256.Sum256": true, "crypto/sha256.Sum224": true,
	"crypto/sha512.Sum512": true, "crypto/sha512.Sum384": true,
	"crypto/sha1.Sum": true, "crypto/md5.Sum": true,
	"crypto/hkdf.Key": true, "crypto/hkdf.Expand": true, "crypto/hkdf.Extract": true,
	"crypto/pbkdf2.Key": true, "crypto/ecdh.ECDH": true,
	".Sum": true, // hash.Hash.Sum and every method named Sum
}

// checker holds one type-checked package.
type checker struct {
	fset    *token.FileSet
	info    *types.Info
	root    string
	tainted map[types.Object]bool // variables assigned a secret producer's result
	out     *[]Finding
}

// byteLike reports whether t is []byte, [N]byte or string (or a named type
// of one), the types a MAC or secret is held in.
func byteLike(t types.Type) bool {
	if t == nil {
		return false
	}
	switch u := t.Underlying().(type) {
	case *types.Slice:
		b, ok := u.Elem().Underlying().(*types.Basic)
		return ok && b.Kind() == types.Byte
	case *types.Array:
		b, ok := u.Elem().Underlying().(*types.Basic)
		return ok && b.Kind() == types.Byte
	case *types.Basic:
		return u.Info()&types.IsString != 0
	}
	return false
}

// secretOperand reports whether e holds a secret: its type is byte-like and
// its name (the identifier, the selected field, or the function called,
// looking through slicing, indexing, conversions, dereferences and
// parentheses) contains a secret word, or it is a variable assigned the
// result of a secret producer, or a call of one. It returns the reason.
func (c *checker) secretOperand(e ast.Expr) (string, bool) {
	tv, ok := c.info.Types[e]
	if !ok || tv.Value != nil || !byteLike(tv.Type) {
		return "", false // constants are not secrets
	}
	return c.secretExpr(e)
}

func (c *checker) secretExpr(e ast.Expr) (string, bool) {
	switch x := e.(type) {
	case *ast.ParenExpr:
		return c.secretExpr(x.X)
	case *ast.StarExpr:
		return c.secretExpr(x.X)
	case *ast.SliceExpr:
		return c.secretExpr(x.X)
	case *ast.IndexExpr:
		return c.secretExpr(x.X)
	case *ast.UnaryExpr:
		return c.secretExpr(x.X)
	case *ast.Ident:
		if obj := c.info.ObjectOf(x); obj != nil && c.tainted[obj] {
			return x.Name + " holds a hash, MAC or derived secret", true
		}
		if secretName(x.Name) {
			return "name " + x.Name, true
		}
	case *ast.SelectorExpr:
		if secretName(x.Sel.Name) {
			return "name " + x.Sel.Name, true
		}
	case *ast.CallExpr:
		if tv, ok := c.info.Types[x.Fun]; ok && tv.IsType() && len(x.Args) == 1 {
			return c.secretExpr(x.Args[0]) // conversion
		}
		if name, ok := c.producer(x); ok {
			return "result of " + name, true
		}
		if id := calleeIdent(x.Fun); id != nil && secretName(id.Name) {
			return "result of " + id.Name, true
		}
	}
	return "", false
}

func calleeIdent(fun ast.Expr) *ast.Ident {
	switch f := fun.(type) {
	case *ast.Ident:
		return f
	case *ast.SelectorExpr:
		return f.Sel
	case *ast.IndexExpr: // generic instantiation
		return calleeIdent(f.X)
	}
	return nil
}

// producer reports whether call calls a secret producer.
func (c *checker) producer(call *ast.CallExpr) (string, bool) {
	id := calleeIdent(call.Fun)
	if id == nil {
		return "", false
	}
	obj, ok := c.info.Uses[id].(*types.Func)
	if !ok {
		return "", false
	}
	if obj.Pkg() != nil && secretProducers[obj.Pkg().Path()+"."+obj.Name()] {
		return obj.Pkg().Path() + "." + obj.Name(), true
	}
	if sig, ok := obj.Type().(*types.Signature); ok && sig.Recv() != nil && secretProducers["."+obj.Name()] {
		return "method " + obj.Name(), true
	}
	return "", false
}

// compareFuncs are the non-constant-time comparisons.
var compareFuncs = map[string]bool{
	"bytes.Equal": true, "bytes.Compare": true, "bytes.EqualFold": true,
	"slices.Equal": true, "slices.Compare": true, "reflect.DeepEqual": true,
	"strings.EqualFold": true, "strings.Compare": true,
}

// base64Funcs are the encoding/base64 methods that encode or decode.
var base64Funcs = map[string]bool{
	"Encode": true, "EncodeToString": true, "AppendEncode": true,
	"Decode": true, "DecodeString": true, "AppendDecode": true,
}

func (c *checker) add(rule string, n ast.Node, fn string, msg string) {
	pos := c.fset.Position(n.Pos())
	rel, err := filepath.Rel(c.root, pos.Filename)
	if err != nil {
		rel = pos.Filename
	}
	var buf bytes.Buffer
	if err := formatNode(&buf, c.fset, n); err != nil {
		buf.WriteString("?")
	}
	*c.out = append(*c.out, Finding{Rule: rule, File: filepath.ToSlash(rel), Line: pos.Line, Func: fn, Expr: oneLine(buf.String()), Msg: msg})
}

var spaces = regexp.MustCompile(`\s+`)

func oneLine(s string) string { return spaces.ReplaceAllString(s, " ") }

// funcName is the allow-list spelling of a function declaration.
func funcName(d *ast.FuncDecl) string {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return d.Name.Name
	}
	var buf bytes.Buffer
	t := d.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		buf.WriteString("(*")
		t = s.X
	}
	if ix, ok := t.(*ast.IndexExpr); ok {
		t = ix.X
	}
	if ix, ok := t.(*ast.IndexListExpr); ok {
		t = ix.X
	}
	if id, ok := t.(*ast.Ident); ok {
		buf.WriteString(id.Name)
	}
	s := buf.String()
	if strings.HasPrefix(s, "(*") {
		s += ")"
	}
	return s + "." + d.Name.Name
}

// taint records the variables that a function assigns the result of a
// secret producer, so that `sum := h.Sum(nil)` makes sum a hash whatever
// its name.
func (c *checker) taint(f *ast.File) {
	ast.Inspect(f, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok || len(as.Lhs) != len(as.Rhs) {
			return true
		}
		for i, rhs := range as.Rhs {
			call, ok := ast.Unparen(rhs).(*ast.CallExpr)
			if !ok {
				continue
			}
			if _, ok := c.producer(call); !ok {
				continue
			}
			if id, ok := as.Lhs[i].(*ast.Ident); ok {
				if obj := c.info.ObjectOf(id); obj != nil {
					c.tainted[obj] = true
				}
			}
		}
		return true
	})
}

// file applies the typed rules to one file.
func (c *checker) file(f *ast.File) {
	c.taint(f)
	for _, d := range f.Decls {
		fn := ""
		if fd, ok := d.(*ast.FuncDecl); ok {
			fn = funcName(fd)
		}
		ast.Inspect(d, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.BinaryExpr:
				if x.Op != token.EQL && x.Op != token.NEQ {
					return true
				}
				if isNil(x.X) || isNil(x.Y) {
					return true
				}
				if c.isError(x.X) && c.isError(x.Y) && !c.isEOF(x.X) && !c.isEOF(x.Y) {
					c.add("error-compare", x, fn, x.Op.String()+" between errors misses wrapped errors: use errors.Is")
					return true
				}
				for _, op := range []ast.Expr{x.X, x.Y} {
					if why, ok := c.secretOperand(op); ok {
						c.add("secret-compare", x, fn, x.Op.String()+" on a secret ("+why+"): use hmac.Equal or subtle.ConstantTimeCompare")
						break
					}
				}
			case *ast.CallExpr:
				name := c.qualifiedCallee(x)
				if compareFuncs[name] {
					for _, a := range x.Args {
						if why, ok := c.secretOperand(a); ok {
							c.add("secret-compare", x, fn, name+" on a secret ("+why+"): use hmac.Equal or subtle.ConstantTimeCompare")
							break
						}
					}
				}
				if strings.HasPrefix(name, "encoding/base64.") && base64Funcs[strings.TrimPrefix(name, "encoding/base64.")] {
					for _, a := range x.Args {
						if why, ok := c.secretOperand(a); ok {
							c.add("secret-base64", x, fn, "encoding/base64 on a secret ("+why+"): use internal/b64")
							break
						}
					}
				}
			case *ast.AssignStmt:
				// v, err := enc.DecodeString(s): named like a secret.
				for i, rhs := range x.Rhs {
					call, ok := ast.Unparen(rhs).(*ast.CallExpr)
					if !ok || !strings.HasPrefix(c.qualifiedCallee(call), "encoding/base64.Decode") || i >= len(x.Lhs) {
						continue
					}
					if id, ok := x.Lhs[i].(*ast.Ident); ok && secretName(id.Name) {
						c.add("secret-base64", x, fn, "encoding/base64 decodes into "+id.Name+": use internal/b64")
					}
				}
			}
			return true
		})
	}
}

var errorType = types.Universe.Lookup("error").Type().Underlying().(*types.Interface)

// isError reports whether e is of an interface type that implements error.
func (c *checker) isError(e ast.Expr) bool {
	t := c.info.TypeOf(e)
	if t == nil {
		return false
	}
	return types.Implements(t, errorType)
}

// isEOF reports whether e is io.EOF, which readers return unwrapped.
func (c *checker) isEOF(e ast.Expr) bool {
	sel, ok := ast.Unparen(e).(*ast.SelectorExpr)
	if !ok {
		return false
	}
	v, ok := c.info.Uses[sel.Sel].(*types.Var)
	return ok && v.Pkg() != nil && v.Pkg().Path() == "io" && v.Name() == "EOF"
}

func isNil(e ast.Expr) bool {
	id, ok := ast.Unparen(e).(*ast.Ident)
	return ok && id.Name == "nil"
}

// qualifiedCallee returns "pkgpath.Name" for a function or method of a
// package (methods of encoding/base64.Encoding count as encoding/base64),
// or "".
func (c *checker) qualifiedCallee(call *ast.CallExpr) string {
	id := calleeIdent(call.Fun)
	if id == nil {
		return ""
	}
	obj, ok := c.info.Uses[id].(*types.Func)
	if !ok || obj.Pkg() == nil {
		return ""
	}
	path := obj.Pkg().Path()
	if path == "bytes" || path == "slices" || path == "reflect" || path == "strings" {
		if sig, ok := obj.Type().(*types.Signature); ok && sig.Recv() != nil {
			return "" // methods such as bytes.Buffer.String
		}
		return path + "." + obj.Name()
	}
	return path + "." + obj.Name()
}

// goList is the part of `go list -json` the loader needs.
type goList struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Export     string
	Standard   bool
	Module     *struct{ Path string }
	Error      *struct{ Err string }
}

// typedCheck type-checks the packages matching patterns (run from dir)
// with the export data `go list -export` builds, and applies the typed
// rules to the non-test files of those packages (and only those: not to
// their dependencies).
func typedCheck(root, dir string, patterns []string, out *[]Finding) error {
	args := append([]string{"list", "-e", "-export", "-deps", "-json=ImportPath,Dir,GoFiles,Export,Standard,Module,Error"}, patterns...)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	data, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go list: %v", err)
	}
	targets := map[string]bool{}
	{
		cmd := exec.Command("go", append([]string{"list", "-e"}, patterns...)...)
		cmd.Dir = dir
		cmd.Stderr = os.Stderr
		names, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("go list: %v", err)
		}
		for _, n := range strings.Fields(string(names)) {
			targets[n] = true
		}
	}
	exports := map[string]string{}
	var pkgs []goList
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var p goList
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		if p.Error != nil {
			return fmt.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		exports[p.ImportPath] = p.Export
		if targets[p.ImportPath] {
			pkgs = append(pkgs, p)
		}
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok || f == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(f)
	})
	for _, p := range pkgs {
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			files = append(files, f)
		}
		info := &types.Info{
			Types: map[ast.Expr]types.TypeAndValue{},
			Defs:  map[*ast.Ident]types.Object{},
			Uses:  map[*ast.Ident]types.Object{},
		}
		conf := types.Config{Importer: imp}
		if _, err := conf.Check(p.ImportPath, fset, files, info); err != nil {
			return fmt.Errorf("type-checking %s: %v", p.ImportPath, err)
		}
		c := &checker{fset: fset, info: info, root: root, tainted: map[types.Object]bool{}, out: out}
		for _, f := range files {
			c.file(f)
		}
	}
	return nil
}

// aesImport matches import paths of AES implementations.
var aesImport = regexp.MustCompile(`(?i)(^|/)(aes|rijndael)[^/]*$`)

// aesTableName matches declarations named like AES tables.
var aesTableName = regexp.MustCompile(`(?i)^(inv_?)?s_?box(es)?$|^(te|td)[0-4]$|^rcon$|^gf_?mul|^xtime$|^(mul|mult)(2|3|9|11|13|14)$`)

// sboxStart is how the AES S-box begins.
var sboxStart = []string{"0x63", "0x7c", "0x77", "0x7b"}

// untypedCheck applies the import and declaration rules to one non-test
// file.
func untypedCheck(root, path string, out *[]Finding) error {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(root, path)
	if err != nil {
		rel = path
	}
	rel = filepath.ToSlash(rel)
	add := func(rule string, n ast.Node, expr, msg string) {
		*out = append(*out, Finding{Rule: rule, File: rel, Line: fset.Position(n.Pos()).Line, Expr: expr, Msg: msg})
	}
	for _, im := range f.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		switch {
		case p == "math/rand" || p == "math/rand/v2":
			add("math-rand", im, p, "import of "+p+" outside a test: draw randomness from crypto/rand")
		case p != "crypto/aes" && aesImport.MatchString(p):
			add("own-aes", im, p, "import of "+p+": use crypto/aes only")
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.ValueSpec:
			for _, id := range x.Names {
				if aesTableName.MatchString(id.Name) {
					add("own-aes", id, id.Name, "declaration named like an AES table: use crypto/aes only")
				}
			}
		case *ast.CompositeLit:
			if len(x.Elts) >= len(sboxStart) {
				match := true
				for i, s := range sboxStart {
					lit, ok := x.Elts[i].(*ast.BasicLit)
					if !ok || strings.ToLower(lit.Value) != s {
						match = false
						break
					}
				}
				if match {
					add("own-aes", x, "0x63, 0x7c, 0x77, 0x7b, ...", "array literal that starts like the AES S-box: use crypto/aes only")
				}
			}
		}
		return true
	})
	return nil
}

// skipDir reports whether a directory is outside the checked tree.
func skipDir(name string) bool {
	return name == "testdata" || name == "node_modules" || name == "vendor" ||
		(strings.HasPrefix(name, ".") && name != ".") || strings.HasPrefix(name, "_")
}

// Check runs every rule over the repository at root.
func Check(root string) ([]Finding, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	var out []Finding
	if err := typedCheck(root, root, []string{"./..."}, &out); err != nil {
		return nil, err
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		return untypedCheck(root, path, &out)
	})
	if err != nil {
		return nil, err
	}
	sortFindings(out)
	return out, nil
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].File != fs[j].File {
			return fs[i].File < fs[j].File
		}
		return fs[i].Line < fs[j].Line
	})
}

// Entry is one line of the allow-list: the key fields of a finding and
// the reason it is allowed.
type Entry struct {
	Rule, File, Func, Expr, Reason string
	Line                           int // in the allow-list file
}

// Key is the finding key the entry allows.
func (e Entry) Key() string { return e.Rule + " " + e.File + " " + e.Func + " " + e.Expr }

// Fix reports whether the entry is a known real finding to fix.
func (e Entry) Fix() bool { return strings.HasPrefix(e.Reason, "FIX:") }

// ParseAllowList reads the allow-list: one entry a line, five fields
// separated by tabs (rule, file, function or "-", expression, reason);
// blank lines and lines starting with # are ignored. Every entry must have
// a reason.
func ParseAllowList(r io.Reader) ([]Entry, error) {
	var out []Entry
	s := bufio.NewScanner(r)
	n := 0
	for s.Scan() {
		n++
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			return nil, fmt.Errorf("allow-list line %d: %d tab-separated fields, want 5 (rule, file, function, expression, reason)", n, len(f))
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		if f[4] == "" || f[4] == "FIX:" {
			return nil, fmt.Errorf("allow-list line %d: no reason", n)
		}
		if f[2] == "-" {
			f[2] = ""
		}
		out = append(out, Entry{Rule: f[0], File: f[1], Func: f[2], Expr: f[3], Reason: f[4], Line: n})
	}
	return out, s.Err()
}

// Result splits findings by the allow-list.
type Result struct {
	New     []Finding // not allowed: fail
	Known   []Finding // allowed by a FIX: entry: reported, to be fixed
	Allowed []Finding // allowed with a reason
	Stale   []Entry   // entries that match no finding: fail
}

// Apply matches findings against the allow-list. An entry may match
// several findings (the same expression twice in one function).
func Apply(findings []Finding, allow []Entry) Result {
	byKey := map[string]*Entry{}
	used := map[string]bool{}
	for i := range allow {
		byKey[allow[i].Key()] = &allow[i]
	}
	var r Result
	for _, f := range findings {
		e, ok := byKey[f.Key()]
		switch {
		case !ok:
			r.New = append(r.New, f)
		case e.Fix():
			r.Known = append(r.Known, f)
		default:
			r.Allowed = append(r.Allowed, f)
		}
		if ok {
			used[f.Key()] = true
		}
	}
	for _, e := range allow {
		if !used[e.Key()] {
			r.Stale = append(r.Stale, e)
		}
	}
	return r
}
