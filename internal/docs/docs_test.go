package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// root is the repository, seen from this package's directory.
const root = "../.."

// maxReadmeLines keeps the README an entry point; the manual is docs/.
const maxReadmeLines = 250

// mdFiles are README.md and every page of docs/, as paths relative to root.
func mdFiles(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("docs/ has no pages")
	}
	files := []string{"README.md"}
	for _, p := range pages {
		rel, err := filepath.Rel(root, p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	return files
}

func readLines(t *testing.T, rel string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestReadmeIsShort(t *testing.T) {
	if n := len(readLines(t, "README.md")); n > maxReadmeLines {
		t.Errorf("README.md has %d lines, at most %d: move the detail to docs/", n, maxReadmeLines)
	}
}

var (
	link     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	codeSpan = regexp.MustCompile("`[^`]*`")
	scheme   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
	// slugDrop is what GitHub leaves out of a heading's anchor.
	slugDrop = regexp.MustCompile(`[^\p{L}\p{N} _-]`)
)

// line is one line of prose: fenced code blocks are left out.
type line struct {
	n    int
	text string
}

func prose(lines []string) []line {
	var out []line
	fenced := false
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			out = append(out, line{i + 1, l})
		}
	}
	return out
}

// anchors are the ids GitHub gives the headings of a page: lower case, punctuation
// dropped, spaces as hyphens, "-1", "-2"... for repeats.
func anchors(lines []string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, l := range prose(lines) {
		if !strings.HasPrefix(l.text, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(l.text, "#"))
		slug := strings.ReplaceAll(slugDrop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
		if k := seen[slug]; k > 0 {
			out[slug+"-"+strconv.Itoa(k)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

// TestLinksResolve follows every relative link of README.md and docs/: its file (or
// folder) must exist in the tree, and its #anchor, if any, must be a heading of the
// page it names.
func TestLinksResolve(t *testing.T) {
	pageAnchors := map[string]map[string]bool{}
	anchorsOf := func(rel string) map[string]bool {
		if a, ok := pageAnchors[rel]; ok {
			return a
		}
		a := anchors(readLines(t, rel))
		pageAnchors[rel] = a
		return a
	}
	links := 0
	for _, file := range mdFiles(t) {
		for _, l := range prose(readLines(t, file)) {
			text := codeSpan.ReplaceAllString(l.text, "")
			for _, m := range link.FindAllStringSubmatch(text, -1) {
				target := m[1]
				if scheme.MatchString(target) {
					continue // a web address: not ours to check offline
				}
				links++
				path, anchor, _ := strings.Cut(target, "#")
				rel := file
				if path != "" {
					if strings.HasPrefix(path, "/") {
						t.Errorf("%s:%d: %s: absolute path; links must be relative", file, l.n, target)
						continue
					}
					rel = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(file), path)))
					if rel == ".." || strings.HasPrefix(rel, "../") {
						t.Errorf("%s:%d: %s: leaves the repository", file, l.n, target)
						continue
					}
					fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel)))
					if err != nil {
						t.Errorf("%s:%d: %s: %v", file, l.n, target, err)
						continue
					}
					if fi.IsDir() {
						if anchor != "" {
							t.Errorf("%s:%d: %s: an anchor in a folder", file, l.n, target)
						}
						continue
					}
				}
				if anchor == "" {
					continue
				}
				if !strings.HasSuffix(rel, ".md") {
					t.Errorf("%s:%d: %s: an anchor in a file that is not Markdown", file, l.n, target)
					continue
				}
				if !anchorsOf(rel)[anchor] {
					t.Errorf("%s:%d: %s: %s has no heading with anchor #%s", file, l.n, target, rel, anchor)
				}
			}
		}
	}
	if links == 0 {
		t.Error("no relative links found: the test reads nothing")
	}
}

// TestLayoutIsComplete checks that the README's layout table names every package of
// the tree: each top-level folder with Go files, and each folder of cmd/ and
// internal/.
func TestLayoutIsComplete(t *testing.T) {
	var layout strings.Builder
	in := false
	for _, l := range readLines(t, "README.md") {
		if strings.HasPrefix(l, "## ") {
			in = l == "## Layout"
			continue
		}
		if in && strings.HasPrefix(l, "|") {
			layout.WriteString(l + "\n")
		}
	}
	if layout.Len() == 0 {
		t.Fatal(`README.md has no "## Layout" table`)
	}
	table := layout.String()
	var want []string
	top, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range top {
		name := e.Name()
		if !e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		if name == "cmd" || name == "internal" {
			sub, err := os.ReadDir(filepath.Join(root, name))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range sub {
				if s.IsDir() {
					want = append(want, name+"/"+s.Name())
				}
			}
			continue
		}
		if goFiles, _ := filepath.Glob(filepath.Join(root, name, "*.go")); len(goFiles) > 0 {
			want = append(want, name+"/")
		}
	}
	for _, w := range want {
		bare := strings.TrimSuffix(w, "/")
		if !strings.Contains(table, "`"+w+"`") && !strings.Contains(table, "`"+bare+"`") {
			t.Errorf("README.md's layout does not name %s", w)
		}
	}
}

// TestNoSharedReferences: the repository stands alone, so neither README.md nor
// docs/ sends a reader to ../shared, which a user of the project does not have.
func TestNoSharedReferences(t *testing.T) {
	for _, file := range mdFiles(t) {
		for i, l := range readLines(t, file) {
			if strings.Contains(l, "../shared") || strings.Contains(l, "shared/cas-gateway-api") {
				t.Errorf("%s:%d: refers to the shared tree: %s", file, i+1, l)
			}
		}
	}
}
