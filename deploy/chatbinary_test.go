package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var usageFlag = regexp.MustCompile(`(?m)^\s+-([A-Za-z0-9][-A-Za-z0-9_.]*)`)

// TestChatBinaryFlags builds examples/chat (static, as in the image) and checks
// that every flag the manifests pass is one the binary defines, and that it
// reads its key from CHAT_SECRET. The other checks parse the command line
// with serve's flags and the chat's documented ones; this one asks the
// binary itself, once it exists.
func TestChatBinaryFlags(t *testing.T) {
	src := filepath.Join(repoRoot, filepath.FromSlash(chatPackage))
	files, _ := filepath.Glob(filepath.Join(src, "*.go"))
	if len(files) == 0 {
		t.Skipf("%s has no Go files yet", chatPackage)
	}
	b := loadBundle(t)
	p, err := b.chat()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "chat")
	build := exec.Command("go", "build", "-o", bin, chatPackage)
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", chatPackage, err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-h").CombinedOutput() // -h prints the flags and exits
	var defined []string
	for _, m := range usageFlag.FindAllStringSubmatch(string(out), -1) {
		defined = append(defined, m[1])
	}
	if len(defined) == 0 {
		t.Fatalf("%s -h lists no flags:\n%s", chatPackage, out)
	}
	for name := range p.cfg.set {
		if !slices.Contains(defined, name) {
			t.Errorf("the manifests pass -%s; %s does not define it (it has %v)", name, chatPackage, defined)
		}
	}
	var mentions bool
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		mentions = mentions || (!strings.HasSuffix(f, "_test.go") && strings.Contains(string(data), `"`+secretEnv+`"`))
	}
	if !mentions {
		t.Errorf("%s does not read %s, where the Deployment puts the key", chatPackage, secretEnv)
	}
}
