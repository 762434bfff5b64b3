package deploy

import (
	"errors"
	"fmt"
	"go/version"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// chatPackage is what the image builds, from the repository root.
const chatPackage = "./examples/chat"

// dockerfile is a Dockerfile as BuildKit's own parser reads it.
type dockerfile struct {
	text     string
	stages   []instructions.Stage
	metaArgs []instructions.ArgCommand // ARGs before the first FROM
	warnings []string                  // the parser's and the linter's
}

// parseDockerfile parses text with BuildKit's parser and instruction
// reader, with the linter's rules on: a malformed instruction, an unknown
// flag or a lint warning (the checks of docker build --check that run
// without a build) fails.
func parseDockerfile(text string) (*dockerfile, error) {
	res, err := parser.Parse(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dockerfilePath, err)
	}
	d := &dockerfile{text: text}
	for _, w := range res.Warnings {
		d.warnings = append(d.warnings, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, desc, url, msg string, loc []parser.Range) {
		d.warnings = append(d.warnings, fmt.Sprintf("%s: %s", rule, msg))
	}})
	if d.stages, d.metaArgs, err = instructions.Parse(res.AST, lint); err != nil {
		return nil, fmt.Errorf("%s: %w", dockerfilePath, err)
	}
	return d, nil
}

// expand resolves $VAR and ${VAR} from the meta ARGs' defaults.
func (d *dockerfile) expand(s string) string {
	return os.Expand(s, func(k string) string {
		for _, a := range d.metaArgs {
			for _, kv := range a.Args {
				if kv.Key == k && kv.Value != nil {
					return *kv.Value
				}
			}
		}
		return ""
	})
}

func (d *dockerfile) final() *instructions.Stage { return &d.stages[len(d.stages)-1] }

// stage returns the stage a COPY --from names (by name or index); an
// empty from (the build context) names none.
func (d *dockerfile) stage(from string) (*instructions.Stage, bool) {
	if from == "" {
		return nil, false
	}
	if i, err := strconv.Atoi(from); err == nil && i >= 0 && i < len(d.stages) {
		return &d.stages[i], true
	}
	for i := range d.stages {
		if strings.EqualFold(d.stages[i].Name, from) {
			return &d.stages[i], true
		}
	}
	return nil, false
}

func commands[T instructions.Command](s *instructions.Stage) []T {
	var out []T
	for _, c := range s.Commands {
		if v, ok := c.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// entrypoint returns the final stage's last ENTRYPOINT, which must be in
// exec form: with a shell the binary would not be PID 1 and SIGTERM would
// go to the shell (and distroless has none).
func (d *dockerfile) entrypoint() ([]string, error) {
	eps := commands[*instructions.EntrypointCommand](d.final())
	if len(eps) == 0 {
		return nil, errors.New("Dockerfile: the final stage has no ENTRYPOINT")
	}
	ep := eps[len(eps)-1]
	if ep.PrependShell || len(ep.CmdLine) == 0 {
		return nil, fmt.Errorf("Dockerfile: ENTRYPOINT %q is in shell form; the exec form makes the binary PID 1 so that it gets SIGTERM", ep.CmdLine)
	}
	return ep.CmdLine, nil
}

// user returns the final stage's numeric uid, which must not be root.
// runAsNonRoot can only be checked by the kubelet against a numeric USER.
func (d *dockerfile) user() (int64, error) {
	users := commands[*instructions.UserCommand](d.final())
	if len(users) == 0 {
		return 0, errors.New("Dockerfile: the final stage has no USER (it would run as root)")
	}
	u := users[len(users)-1].User
	uid, err := strconv.ParseInt(strings.SplitN(u, ":", 2)[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("Dockerfile: USER %q is not numeric; runAsNonRoot needs a uid", u)
	}
	if uid == 0 {
		return 0, fmt.Errorf("Dockerfile: USER %q is root", u)
	}
	return uid, nil
}

// exposed returns the final stage's EXPOSEd TCP ports.
func (d *dockerfile) exposed() ([]int32, error) {
	var ports []int32
	for _, e := range commands[*instructions.ExposeCommand](d.final()) {
		for _, p := range e.Ports {
			num, proto, _ := strings.Cut(p, "/")
			if proto != "" && !strings.EqualFold(proto, "tcp") {
				continue
			}
			n, err := strconv.ParseInt(num, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("Dockerfile: EXPOSE %q: %w", p, err)
			}
			ports = append(ports, int32(n))
		}
	}
	slices.Sort(ports)
	return ports, nil
}

// goBuild is the build stage's go build command, in words.
type goBuild struct {
	stage *instructions.Stage
	env   map[string]string // NAME=VALUE before the command and the stage's ENV
	args  []string          // after "go build"
}

// flag returns a go build flag's value ("-o x" or "-o=x"), and whether it is there.
func (g goBuild) flag(name string) (string, bool) {
	for i, a := range g.args {
		switch {
		case a == name && i+1 < len(g.args):
			return g.args[i+1], true
		case strings.HasPrefix(a, name+"="):
			return strings.TrimPrefix(a, name+"="), true
		}
	}
	return "", false
}

func (g goBuild) has(name string) bool {
	for _, a := range g.args {
		if a == name || a == name+"=true" {
			return true
		}
	}
	return false
}

var envAssign = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// build finds the RUN that builds chatPackage in a stage before the final one.
func (d *dockerfile) build() (*goBuild, error) {
	lex := shell.NewLex('\\')
	for i := range d.stages[:len(d.stages)-1] {
		st := &d.stages[i]
		env := map[string]string{}
		for _, c := range st.Commands {
			switch c := c.(type) {
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					env[kv.Key] = kv.Value
				}
			case *instructions.RunCommand:
				words, err := lex.ProcessWords(strings.Join(c.CmdLine, " "), shell.EnvsFromSlice(nil))
				if err != nil {
					return nil, fmt.Errorf("Dockerfile: RUN %q: %w", c.CmdLine, err)
				}
				// Each command of a chain on its own: a && b ; c
				for cmd := range splitCommands(words) {
					j := 0
					runEnv := maps.Clone(env)
					for ; j < len(cmd) && envAssign.MatchString(cmd[j]); j++ {
						k, v, _ := strings.Cut(cmd[j], "=")
						runEnv[k] = v
					}
					if len(cmd) < j+2 || cmd[j] != "go" || cmd[j+1] != "build" || !slices.Contains(cmd[j+2:], chatPackage) {
						continue
					}
					return &goBuild{stage: st, env: runEnv, args: cmd[j+2:]}, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("Dockerfile: no stage before the final one runs go build %s", chatPackage)
}

// splitCommands yields the simple commands of a shell word list: the words
// between &&, || and ;.
func splitCommands(words []string) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		start := 0
		for i := 0; i <= len(words); i++ {
			if i < len(words) && words[i] != "&&" && words[i] != "||" && words[i] != ";" {
				continue
			}
			if i > start && !yield(words[start:i]) {
				return
			}
			start = i + 1
		}
	}
}

// checkDockerfile: a multi-stage build of a static binary of the chat onto
// distroless/static or scratch, as a non-root user, with an exec-form
// ENTRYPOINT that runs the binary the build stage made.
func checkDockerfile(b *bundle) error {
	var e errs
	d := b.image
	for _, w := range d.warnings {
		e.add("Dockerfile: %s", w)
	}
	if len(d.stages) < 2 {
		e.add("Dockerfile: %d stage(s); the build and the image are separate stages", len(d.stages))
		return e.err()
	}
	final := d.final()
	base := d.expand(final.BaseName)
	isScratch := base == "scratch"
	if !isScratch && !strings.HasPrefix(base, "gcr.io/distroless/static") {
		e.add("Dockerfile: the final image is %q, not scratch or distroless/static", base)
	}
	if isScratch && !copiesTo(final, "/etc/ssl/certs/") {
		e.add("Dockerfile: a scratch image needs CA certificates in /etc/ssl/certs")
	}
	_, err := d.user()
	e.addErr(err)

	g, err := d.build()
	if err != nil {
		e.addErr(err)
		return e.err()
	}
	if g.env["CGO_ENABLED"] != "0" {
		e.add("Dockerfile: go build without CGO_ENABLED=0: the binary would not be static")
	}
	if !g.has("-trimpath") {
		e.add("Dockerfile: go build without -trimpath")
	}
	ldflags, _ := g.flag("-ldflags")
	if f := strings.Fields(ldflags); !slices.Contains(f, "-s") || !slices.Contains(f, "-w") {
		e.add("Dockerfile: go build -ldflags %q, not -s -w", ldflags)
	}
	out, ok := g.flag("-o")
	if !ok {
		e.add("Dockerfile: go build without -o")
	}
	e.addErr(checkGoVersion(d, g.stage))

	// The final stage copies that binary and runs it.
	var bin string
	for _, c := range commands[*instructions.CopyCommand](final) {
		if from, ok := d.stage(c.From); ok && from == g.stage && slices.Contains(c.SourcePaths, out) {
			bin = c.DestPath
			if strings.HasSuffix(bin, "/") {
				bin += path.Base(out)
			}
		}
	}
	if bin == "" {
		e.add("Dockerfile: the final stage does not COPY --from=%s %s", g.stage.Name, out)
	}
	ep, err := d.entrypoint()
	e.addErr(err)
	if err == nil && bin != "" && ep[0] != bin {
		e.add("Dockerfile: ENTRYPOINT runs %q, the binary is copied to %q", ep[0], bin)
	}

	// COPYs from the build context name files of the repository root.
	for i := range d.stages {
		for _, c := range commands[*instructions.CopyCommand](&d.stages[i]) {
			if c.From != "" {
				continue
			}
			for _, src := range c.SourcePaths {
				if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(src))); err != nil {
					e.add("Dockerfile: COPY %s: not in the build context (the repository root): %v", src, err)
				}
			}
		}
	}
	return e.err()
}

// copiesTo reports whether a stage copies something under dir.
func copiesTo(s *instructions.Stage, dir string) bool {
	for _, c := range commands[*instructions.CopyCommand](s) {
		if strings.HasPrefix(c.DestPath, dir) {
			return true
		}
	}
	return false
}

var goDirective = regexp.MustCompile(`(?m)^go\s+(\S+)\s*$`)

// checkGoVersion: the build stage's golang image is at least the Go of the
// root go.mod, or go build would try to download a toolchain.
func checkGoVersion(d *dockerfile, st *instructions.Stage) error {
	base := d.expand(st.BaseName)
	name, tag, _ := strings.Cut(base, ":")
	if path.Base(name) != "golang" {
		return fmt.Errorf("Dockerfile: the build stage is %q, not a golang image", base)
	}
	modText, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		return err
	}
	m := goDirective.FindSubmatch(modText)
	if m == nil {
		return errors.New("../go.mod: no go directive")
	}
	need := "go" + string(m[1])
	have := "go" + strings.SplitN(tag, "-", 2)[0]
	switch {
	case !version.IsValid(have):
		return fmt.Errorf("Dockerfile: golang image tag %q is not a Go version", tag)
	case version.Compare(have, need) >= 0:
		return nil
	case have == version.Lang(have) && have == version.Lang(need): // golang:1.26 is the newest 1.26.x
		return nil
	}
	return fmt.Errorf("Dockerfile: golang:%s is older than the go %s of go.mod", tag, m[1])
}

// readIgnoreFile reads a .dockerignore; a missing one is no patterns.
func readIgnoreFile(name string) ([]string, error) {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ignorefile.ReadAll(f)
}

// checkBuildContext: the ignore file leaves in the context every file the
// build of the core module may read: go.mod, go.sum and the files of its
// packages, tests and test data aside (directories with a go.mod of their
// own are other modules).
func checkBuildContext(b *bundle) error {
	pm, err := patternmatcher.New(b.ignore)
	if err != nil {
		return fmt.Errorf("%s: %w", dockerignore, err)
	}
	files, err := coreModuleFiles()
	if err != nil {
		return err
	}
	var e errs
	for _, rel := range files {
		if ignored, err := pm.MatchesOrParentMatches(rel); err != nil || ignored {
			e.add("%s leaves %s out of the build context (%v)", dockerignore, rel, err)
		}
	}
	return e.err()
}

// coreModuleFiles lists the files of the core module that a build may
// read, relative to the repository root: those git tracks, or without git
// the Go files.
func coreModuleFiles() ([]string, error) {
	var files []string
	if out, err := exec.Command("git", "-C", repoRoot, "ls-files", "-z").Output(); err == nil {
		files = strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	} else {
		err := filepath.WalkDir(repoRoot, func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return err
			}
			if rel, _ := filepath.Rel(repoRoot, p); strings.HasSuffix(rel, ".go") || rel == "go.mod" || rel == "go.sum" {
				files = append(files, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	var keep []string
	for _, rel := range files {
		if rel != "" && !strings.HasSuffix(rel, "_test.go") && inCoreModule(rel) {
			keep = append(keep, rel)
		}
	}
	if !slices.Contains(keep, "go.mod") {
		return nil, fmt.Errorf("no go.mod in %s", repoRoot)
	}
	return keep, nil
}

// inCoreModule reports whether rel is a file of the root module's packages:
// not under a directory Go skips (., _, testdata) or one with a go.mod.
func inCoreModule(rel string) bool {
	dirs := strings.Split(path.Dir(rel), "/")
	for i, d := range dirs {
		if d == "." {
			continue
		}
		if strings.HasPrefix(d, ".") || strings.HasPrefix(d, "_") || d == "testdata" {
			return false
		}
		if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(strings.Join(dirs[:i+1], "/")), "go.mod")); err == nil {
			return false
		}
	}
	return true
}
