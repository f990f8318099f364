package retryd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's example, as written, against a sidecar with the built-in
// policies: it prints what the README says it prints.
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "clients", "go", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```(go|text)\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	var program, output string
	for i, b := range blocks {
		if b[1] == "go" && strings.HasPrefix(b[2], "package main\n") && i+1 < len(blocks) && blocks[i+1][1] == "text" {
			program, output = b[2], blocks[i+1][2]
			break
		}
	}
	if program == "" {
		t.Fatal("README.md has no example program followed by its output")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(program), 0o644); err != nil {
		t.Fatal(err)
	}
	side := startRetryd(t, "", "127.0.0.1:0")
	cmd := exec.Command("go", "run", "main.go")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RETRYD_ADDR="+side.Addr)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run: %v\n%s", err, out)
	}
	if string(out) != output {
		t.Fatalf("the example printed\n%s\nthe README says\n%s", out, output)
	}
}
