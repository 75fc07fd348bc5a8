package lock_test

import (
	"os"
	"strings"
	"testing"
)

// TestREADME checks the README's promises that a test can hold it to: the
// two commands, and that its code at a glance is Example_glance, which runs.
func TestREADME(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"go run ./examples/quickstart", "go test ./..."} {
		if !strings.Contains(string(readme), "\n"+cmd) {
			t.Errorf("README lacks the command %q", cmd)
		}
	}
	_, block, ok := strings.Cut(string(readme), "```go\n")
	block, _, _ = strings.Cut(block, "```")
	_, code, _ := strings.Cut(block, "\n)\n") // after the imports
	if !ok || strings.TrimSpace(code) == "" {
		t.Fatal("README has no Go code block after an import list")
	}
	src := string(example)
	_, glance, _ := strings.Cut(src, "func Example_glance() {")
	for _, line := range strings.Split(code, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.Contains(glance, line) {
			t.Errorf("README line %q is not in Example_glance", line)
		}
	}
}
