package codec_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/shoalnet/shoal/codec"
)

// must returns v, or panics on a configuration the test tables hold by
// mistake.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// decodeCase is one Decode call: the codec, its input and the expected
// result.
type decodeCase struct {
	name  string
	dec   codec.Decoder
	in    string
	frame string // expected frame; compared as bytes, nil and empty alike
	n     int
	err   error // expected with errors.Is; nil for none
}

func runDecodeCases(t *testing.T, cases []decodeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frame, n, err := tc.dec.Decode([]byte(tc.in))
			if !bytes.Equal(frame, []byte(tc.frame)) || n != tc.n || !errors.Is(err, tc.err) {
				t.Errorf("Decode(%q) = %q, %d, %v; want %q, %d, %v", tc.in, frame, n, err, tc.frame, tc.n, tc.err)
			}
		})
	}
}

// encodeCase is one AppendFrame call onto a non-empty dst.
type encodeCase struct {
	name string
	enc  codec.Encoder
	msg  string
	want string // bytes appended after the prefix
	err  error  // expected with errors.Is; nil for none
}

func runEncodeCases(t *testing.T, cases []encodeCase) {
	t.Helper()
	const prefix = "prefix"
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.enc.AppendFrame([]byte(prefix), []byte(tc.msg))
			if string(out) != prefix+tc.want || !errors.Is(err, tc.err) {
				t.Errorf("AppendFrame(%q) = %q, %v; want %q, %v", tc.msg, out, err, prefix+tc.want, tc.err)
			}
		})
	}
}

// roundTripCase encodes msg and decodes it back.
type roundTripCase struct {
	name string
	cd   codec.Codec
	msg  string
}

func runRoundTrips(t *testing.T, cases []roundTripCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wire, err := tc.cd.AppendFrame(nil, []byte(tc.msg))
			if err != nil {
				t.Fatalf("AppendFrame(%q): %v", tc.msg, err)
			}
			// A second frame behind the first must not change the first.
			frame, n, err := tc.cd.Decode(append(wire, wire...))
			if string(frame) != tc.msg || n != len(wire) || err != nil {
				t.Errorf("Decode(AppendFrame(%q) = %q) = %q, %d, %v; want the message, %d, nil",
					tc.msg, wire, frame, n, err, len(wire))
			}
		})
	}
}

// errOf returns the error of a constructor call.
func errOf[T any](_ T, err error) error { return err }

// configCase is one constructor call and whether it must fail.
type configCase struct {
	name    string
	err     error
	wantErr bool
}

func runConfigCases(t *testing.T, cases []configCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if (tc.err != nil) != tc.wantErr {
				t.Errorf("error = %v; want an error: %v", tc.err, tc.wantErr)
			}
		})
	}
}
