package jsonx

import "testing"

func TestRoundTrip(t *testing.T) {
	type v struct {
		A string `json:"a"`
		B []byte `json:"b,omitempty"`
		C int    `json:"c"`
	}
	in := v{A: "é\"x", B: []byte{0, 1, 255}, C: -3}
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out v
	if err := Unmarshal(b, &out); err != nil || out.A != in.A || string(out.B) != string(in.B) || out.C != in.C {
		t.Fatalf("%s → %+v, %v", b, out, err)
	}
	if err := Unmarshal([]byte(`{"a":`), &out); err == nil {
		t.Fatal("truncated JSON accepted")
	}
}
