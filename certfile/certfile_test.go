package certfile

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/devcert"
)

func writePair(t *testing.T, dir string, cert tls.Certificate) (string, string) {
	t.Helper()
	c, k, err := devcert.PEM(cert)
	if err != nil {
		t.Fatal(err)
	}
	cf, kf := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	// As a secret volume does: write elsewhere, then rename into place.
	for name, data := range map[string][]byte{cf: c, kf: k} {
		if err := os.WriteFile(name+".tmp", data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(name+".tmp", name); err != nil {
			t.Fatal(err)
		}
	}
	return cf, kf
}

// TestReloadAndWatch: Load serves the files' certificate; a bad file is
// refused and the old certificate stays; Watch picks up new files.
func TestReloadAndWatch(t *testing.T) {
	ca, err := devcert.NewCA("certfile test CA")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := ca.Issue("first.test")
	second, _ := ca.Issue("second.test")
	dir := t.TempDir()
	cf, kf := writePair(t, dir, first)
	certs, err := Load(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := certs.GetCertificate(nil); got.Leaf.Subject.CommonName != "first.test" {
		t.Fatalf("serving %s", got.Leaf.Subject.CommonName)
	}

	// A key that is not the certificate's: refused, the first one stays.
	_, otherKey, _ := devcert.PEM(second)
	os.WriteFile(kf, otherKey, 0o600)
	if _, err := certs.Reload(); err == nil {
		t.Fatal("no error for a key that does not match")
	}
	if certs.Current().Leaf.Subject.CommonName != "first.test" {
		t.Fatal("a failed reload replaced the certificate")
	}

	var mu sync.Mutex
	var errs []error
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		certs.Watch(ctx, 10*time.Millisecond, func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() })
	}()
	defer func() { cancel(); <-done }()
	time.Sleep(50 * time.Millisecond) // the watcher has seen the broken pair
	writePair(t, dir, second)
	deadline := time.Now().Add(10 * time.Second)
	for certs.Current().Leaf.Subject.CommonName != "second.test" {
		if time.Now().After(deadline) {
			t.Fatal("the watcher did not load the new files")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	// The mismatched key was reported; so may be a moment between the two
	// renames, when the new key met the old certificate.
	if len(errs) == 0 {
		t.Error("the mismatched key was not reported")
	}
}

func TestLoadMissing(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "no.crt"), "no.key"); err == nil {
		t.Fatal("no error for missing files")
	}
}
