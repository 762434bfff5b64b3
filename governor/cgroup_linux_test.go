package governor

import (
	"errors"
	"path/filepath"
	"testing"
)

// TestCgroupLayouts reads the limit and the working set from cgroup v1 and
// v2 layouts as containers see them (testdata/cgroup/*: proc/self/cgroup,
// proc/self/mountinfo and the cgroup files).
func TestCgroupLayouts(t *testing.T) {
	for _, tc := range []struct {
		layout  string
		dir     string // the cgroup directory found, under the layout
		v2      bool
		limit   int64
		limErr  error
		working int64
	}{
		// The pod's limit (hierarchical_memory_limit) is below the container's.
		{"v1", "sys/fs/cgroup/memory/kubepods/burstable/pod1/c1", false, 256 << 20, nil, 100<<20 - 1<<20},
		// The container's cgroup is what is mounted; its path is outside.
		{"v1-docker", "sys/fs/cgroup/memory", false, 1 << 30, nil, 2000000},
		{"v1-unlimited", "sys/fs/cgroup/memory", false, 0, ErrNoLimit, 123456789 - 23456789},
		// The pod slice limits; the scope and kubepods.slice say max.
		{"v2", "sys/fs/cgroup/kubepods.slice/kubepods-pod1.slice/cri-c1.scope", true, 256 << 20, nil, 40000000},
		// A mount point with an escaped space; inactive file above usage
		// leaves usage as it is.
		{"v2-namespace", "sys/fs/cgroup x", true, 128 << 20, nil, 70000000},
		{"v2-unlimited", "sys/fs/cgroup/app.slice", true, 0, ErrNoLimit, 1000},
		// v1 memory applies where both are mounted.
		{"hybrid", "sys/fs/cgroup/memory/user.slice", false, 300000000, nil, 4000},
	} {
		t.Run(tc.layout, func(t *testing.T) {
			root := filepath.Join("testdata/cgroup", tc.layout)
			cg, err := findCgroup(root)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(root, tc.dir); cg.dir != want || cg.v2 != tc.v2 {
				t.Errorf("found %s (v2 %v), want %s (v2 %v)", cg.dir, cg.v2, want, tc.v2)
			}
			if lim, err := cg.limit(); lim != tc.limit || !errors.Is(err, tc.limErr) {
				t.Errorf("limit %d, %v; want %d, %v", lim, err, tc.limit, tc.limErr)
			}
			if ws, err := cg.workingSet(); ws != tc.working || err != nil {
				t.Errorf("working set %d, %v; want %d", ws, err, tc.working)
			}
		})
	}
}

func TestCgroupMissing(t *testing.T) {
	for _, root := range []string{"testdata/cgroup/none", t.TempDir()} {
		if cg, err := findCgroup(root); !errors.Is(err, ErrNoCgroup) {
			t.Errorf("%s: found %+v, %v; want ErrNoCgroup", root, cg, err)
		}
	}
}

// TestLimitPrecedence: WithMemoryLimit, then GOMEMLIMIT (as the runtime
// parsed it), then the cgroup.
func TestLimitPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name   string
		option int64
		env    map[string]string
		layout string
		limit  int64
		source LimitSource
	}{
		{"option over all", 1000, map[string]string{"GOMEMLIMIT": "1GiB"}, "v1", 1000, LimitOption},
		{"GOMEMLIMIT over the cgroup", 0, map[string]string{"GOMEMLIMIT": "1GiB"}, "v1", 1 << 30, LimitGOMEMLIMIT},
		{"GOMEMLIMIT off: the cgroup", 0, map[string]string{"GOMEMLIMIT": "off"}, "v1", 256 << 20, LimitCgroupV1},
		{"cgroup v2", 0, nil, "v2", 256 << 20, LimitCgroupV2},
		{"nothing", 0, nil, "none", 0, LimitNone},
		{"no limit in the cgroup", 0, nil, "v2-unlimited", 0, LimitNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newFakeRuntime(tc.env)
			rt.curLimit = 1 << 30 // what the runtime took from GOMEMLIMIT
			g, err := New(&fakeServer{}, WithMemoryLimit(tc.option), withHooks(rt.hooks()),
				withCgroupRoot(filepath.Join("testdata/cgroup", tc.layout)))
			if err != nil {
				t.Fatal(err)
			}
			if st := g.Stats(); st.Limit != tc.limit || st.LimitSource != tc.source {
				t.Errorf("limit %d from %v, want %d from %v", st.Limit, st.LimitSource, tc.limit, tc.source)
			}
		})
	}
}

func TestUnescapeOctal(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`: "/plain", `/a\040b`: "/a b", `/t\011ab`: "/t\tab", `/back\134slash`: `/back\slash`,
		`/short\04`: `/short\04`, `/not\999octal`: `/not\999octal`,
	} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseMountinfoRejectsGarbage(t *testing.T) {
	for _, in := range []string{"just some words\n", "1 2 3 4 5 6 - cgroup2\n", "1 2 - a b c\n"} {
		if _, err := parseMountinfo([]byte(in)); err == nil {
			t.Errorf("parsed %q", in)
		}
	}
}
