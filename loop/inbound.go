package loop

import "github.com/shoalnet/shoal/internal/bufpool"

// The read-side methods of both engines work on a view: the bytes that have
// arrived and are not yet consumed. These helpers hold the shared logic.

func viewPeek(v []byte, n int) ([]byte, error) {
	switch {
	case n < 0:
		return nil, ErrNegativeCount
	case n == 0:
		return v, nil
	case n > len(v):
		return v, ErrShortBuffer
	}
	return v[:n:n], nil
}

func viewNext(v *[]byte, n int) ([]byte, error) {
	b, err := viewPeek(*v, n)
	if err != nil {
		return b[:0], err
	}
	*v = (*v)[len(b):]
	return b, nil
}

func viewDiscard(v *[]byte, n int) (int, error) {
	if n < 0 {
		return 0, ErrNegativeCount
	}
	if n == 0 || n > len(*v) {
		n = len(*v)
	}
	*v = (*v)[n:]
	return n, nil
}

// input holds a connection's unconsumed bytes between two OnData calls in a
// pooled buffer. It is nil while nothing is left over, so idle connections
// hold no read buffer.
type input struct {
	in []byte
}

// feed returns the view for OnData: data alone when nothing was left over,
// else the leftover with data appended. It fails when the leftover would
// exceed max.
func (b *input) feed(data []byte, max int) ([]byte, error) {
	if len(b.in) == 0 {
		b.reset()
		return data, nil
	}
	if len(b.in)+len(data) > max {
		return nil, ErrInputTooLarge
	}
	if cap(b.in)-len(b.in) < len(data) {
		nb := append(bufpool.Get(len(b.in)+len(data)), b.in...)
		bufpool.Put(b.in)
		b.in = nb
	}
	b.in = append(b.in, data...)
	return b.in, nil
}

// keep stores rest, what OnData left of the view, for the next OnData.
// rest is either a suffix of b.in (when feed returned b.in) or of data.
func (b *input) keep(rest []byte, max int) error {
	if len(rest) == 0 {
		b.reset()
		return nil
	}
	if len(rest) > max {
		return ErrInputTooLarge
	}
	if b.in != nil {
		b.in = b.in[:copy(b.in[:cap(b.in)], rest)]
		return nil
	}
	b.in = append(bufpool.Get(len(rest)), rest...)
	return nil
}

// reset returns the buffer to the pool.
func (b *input) reset() {
	if b.in != nil {
		bufpool.Put(b.in)
		b.in = nil
	}
}
