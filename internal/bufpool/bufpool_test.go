package bufpool

import "testing"

func TestGetCapacity(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{0, 512}, {1, 512}, {512, 512}, {513, 1024}, {4096, 4096}, {4097, 8192},
		{MaxSize, MaxSize}, {MaxSize + 1, MaxSize + 1},
	} {
		b := Get(tc.n)
		if len(b) != 0 || cap(b) != tc.want {
			t.Errorf("Get(%d): len %d cap %d, want 0/%d", tc.n, len(b), cap(b), tc.want)
		}
		Put(b)
	}
}

func TestPutForeignSliceIsDropped(t *testing.T) {
	Put(make([]byte, 0, 1000)) // not a class size
	Put(nil)
	if b := Get(1000); cap(b) != 1024 {
		t.Fatalf("cap %d", cap(b))
	}
}

func TestReuse(t *testing.T) {
	b := Get(2048)
	b = append(b, "hello"...)
	Put(b)
	for range 10 {
		c := Get(2000)
		if cap(c) != 2048 || len(c) != 0 {
			t.Fatalf("cap %d len %d", cap(c), len(c))
		}
		Put(c)
	}
}

func BenchmarkGetPut(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Put(Get(4096))
	}
}
