package circuitry_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// TestMarkdownLinks checks that every relative link of README.md and
// docs/*.md names a file or directory of the repository and, when it names a
// heading (file.md#heading or #heading), a heading of that file, as GitHub
// makes its anchors.
func TestMarkdownLinks(t *testing.T) {
	docs, err := filepath.Glob(filepath.Join("docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files := append([]string{"README.md"}, docs...)
	if len(docs) == 0 {
		t.Fatal("no docs/*.md")
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			for _, l := range links(t, file) {
				target, anchor, _ := strings.Cut(l.target, "#")
				path := file
				if target != "" {
					path = filepath.Join(filepath.Dir(file), filepath.FromSlash(target))
					if _, err := os.Stat(path); err != nil {
						t.Errorf("line %d: link %q: %v", l.line, l.target, err)
						continue
					}
				}
				if anchor == "" || !strings.HasSuffix(path, ".md") {
					continue
				}
				if !anchors(t, path)[anchor] {
					t.Errorf("line %d: link %q: %s has no heading with the anchor #%s", l.line, l.target, path, anchor)
				}
			}
		})
	}
}

type link struct {
	line   int
	target string
}

// linkRE matches an inline link or image: [text](target) or [text](target "title").
var linkRE = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// links returns the relative links of a markdown file, outside code.
func links(t *testing.T, file string) []link {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []link
	fence := false
	for i, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fence = !fence
			continue
		}
		if fence {
			continue
		}
		line = inlineCode.ReplaceAllString(line, "")
		for _, m := range linkRE.FindAllStringSubmatch(line, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			out = append(out, link{i + 1, target})
		}
	}
	return out
}

var inlineCode = regexp.MustCompile("`[^`]*`")

// anchors returns the anchors GitHub gives the headings of a markdown file.
func anchors(t *testing.T, file string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	out := map[string]bool{}
	fence := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fence = !fence
			continue
		}
		if fence || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		a := slug(title)
		if n := seen[a]; n > 0 {
			out[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// slug is GitHub's anchor for a heading: lower case, without punctuation
// other than hyphens and underscores, spaces made hyphens.
func slug(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestSlug(t *testing.T) {
	for _, tc := range []struct{ title, want string }{
		{"Querying the journal: `cmd/circuitry`", "querying-the-journal-cmdcircuitry"},
		{"1. `ReadyToTrip` with `> N` is `ConsecutiveFailures(N+1)`", "1-readytotrip-with--n-is-consecutivefailuresn1"},
		{"States, events and defaults", "states-events-and-defaults"},
		{"Call through it: `Do` and `Execute`", "call-through-it-do-and-execute"},
	} {
		t.Run(tc.title, func(t *testing.T) {
			if got := slug(tc.title); got != tc.want {
				t.Fatalf("slug = %q, want %q", got, tc.want)
			}
		})
	}
}
