package retryd_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The README's example programs, as written, each against a sidecar with
// the built-in policies: each prints what the README says it prints.
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "clients", "go", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```(go|text)\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	type example struct{ program, output string }
	var examples []example
	for i, b := range blocks {
		if b[1] == "go" && strings.HasPrefix(b[2], "package main\n") && i+1 < len(blocks) && blocks[i+1][1] == "text" {
			examples = append(examples, example{b[2], blocks[i+1][2]})
		}
	}
	// The first decides retries; the second runs a Worker.
	if len(examples) != 2 || !strings.Contains(examples[1].program, "retryd.NewWorker(") {
		t.Fatalf("README.md has %d example programs followed by their output, want 2 (the second a Worker)", len(examples))
	}
	for i, ex := range examples {
		ex := ex
		t.Run([]string{"decision", "worker"}[i], func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(ex.program), 0o644); err != nil {
				t.Fatal(err)
			}
			side := startRetryd(t, "", "127.0.0.1:0")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "go", "run", "main.go")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "RETRYD_ADDR="+side.Addr)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go run: %v\n%s", err, out)
			}
			if string(out) != ex.output {
				t.Fatalf("the example printed\n%s\nthe README says\n%s", out, ex.output)
			}
		})
	}
}
