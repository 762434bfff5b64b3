// Package certfile serves a TLS certificate and key from PEM files and
// reloads them without a restart: on Reload (the serve package calls it
// on SIGHUP) and when Watch sees the files change. Connections made
// before a reload keep the certificate they were given; new ones get the
// new one. A reload that fails (a missing file, a key that does not match,
// a half-written file) keeps the certificate in use and reports why.
//
//	certs, err := certfile.Load("tls.crt", "tls.key")
//	cfg := &tls.Config{GetCertificate: certs.GetCertificate}
//	go certs.Watch(ctx, 2*time.Second, func(err error) { log.Warn("certificate reload", "err", err) })
package certfile

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Certs is a certificate loaded from files, replaced as they change.
type Certs struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]

	mu    sync.Mutex // serializes reloads
	stamp stamp      // of the files last loaded
}

// stamp is what tells that a file changed: size and modification time,
// of the file a symbolic link leads to (a Kubernetes secret swaps links).
type stamp struct {
	certSize, keySize int64
	certMod, keyMod   time.Time
}

// Load reads certFile (the chain, leaf first) and keyFile.
func Load(certFile, keyFile string) (*Certs, error) {
	c := &Certs{certFile: certFile, keyFile: keyFile}
	if _, err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// GetCertificate is a tls.Config.GetCertificate: the current certificate.
func (c *Certs) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// Current returns the certificate in use.
func (c *Certs) Current() *tls.Certificate { return c.cur.Load() }

// Reload reads the files again. It reports whether the certificate
// changed; on an error the one in use stays.
func (c *Certs) Reload() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.stat()
	if err != nil {
		return false, err
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return false, fmt.Errorf("certfile: %w", err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return false, fmt.Errorf("certfile: %w", err)
		}
	}
	if now := time.Now(); now.After(cert.Leaf.NotAfter) {
		return false, fmt.Errorf("certfile: %s expired at %s", c.certFile, cert.Leaf.NotAfter.Format(time.RFC3339))
	}
	old := c.cur.Load()
	c.cur.Store(&cert)
	c.stamp = st
	return old == nil || !sameChain(old, &cert), nil
}

// Watch reloads the certificate when its files change, checking every
// interval until ctx ends. A failed reload is passed to onErr (if not nil)
// and tried again at the next change.
func (c *Certs) Watch(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	report := func(err error) {
		if onErr != nil {
			onErr(err)
		}
	}
	missing := false // a file is gone: said once, until it is back
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := c.stat()
		if err != nil {
			if !missing {
				missing = true
				report(err)
			}
			continue
		}
		missing = false
		c.mu.Lock()
		same := st == c.stamp
		c.mu.Unlock()
		if same {
			continue
		}
		if _, err := c.Reload(); err != nil {
			report(err)
			c.mu.Lock()
			c.stamp = st // the same broken files are not tried again
			c.mu.Unlock()
		}
	}
}

func (c *Certs) stat() (stamp, error) {
	cf, err := os.Stat(c.certFile)
	if err != nil {
		return stamp{}, fmt.Errorf("certfile: %w", err)
	}
	kf, err := os.Stat(c.keyFile)
	if err != nil {
		return stamp{}, fmt.Errorf("certfile: %w", err)
	}
	return stamp{certSize: cf.Size(), keySize: kf.Size(), certMod: cf.ModTime(), keyMod: kf.ModTime()}, nil
}

func sameChain(a, b *tls.Certificate) bool {
	if len(a.Certificate) != len(b.Certificate) {
		return false
	}
	for i := range a.Certificate {
		if string(a.Certificate[i]) != string(b.Certificate[i]) {
			return false
		}
	}
	return true
}
