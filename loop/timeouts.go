package loop

// deadlines are a connection's timeouts, in the units of its engine's
// clock (wheel ticks for the event loops, nanoseconds for the portable
// engine). Zero means off. Owned by the connection's loop.
type deadlines struct {
	idle       int64 // idle timeout length
	lastActive int64 // instant of the last read or write
	read       int64 // input must arrive before this instant
	write      int64 // output must be flushed before this instant
	close      int64 // Close must be done before this instant
}

// check returns the close reason of the first deadline passed at now (nil
// if none) and the next instant at which to check again (0: never).
// pending says whether output is queued; lingering whether the output is
// flushed and only the peer's FIN is awaited.
func (d *deadlines) check(now int64, pending, lingering bool) (error, int64) {
	switch {
	case d.close != 0 && now >= d.close:
		if lingering {
			return errLingerDone, 0
		}
		return ErrCloseTimeout, 0
	case d.read != 0 && now >= d.read:
		return ErrReadTimeout, 0
	case d.write != 0 && now >= d.write && pending:
		return ErrWriteTimeout, 0
	case d.idle != 0 && now >= d.lastActive+d.idle:
		return ErrIdleTimeout, 0
	}
	write := d.write
	if write <= now { // passed with nothing queued: nothing to enforce
		write = 0
	}
	next := int64(0)
	for _, t := range [...]int64{d.close, d.read, write, d.idleAt()} {
		if t != 0 && (next == 0 || t < next) {
			next = t
		}
	}
	return nil, next
}

func (d *deadlines) idleAt() int64 {
	if d.idle == 0 {
		return 0
	}
	return d.lastActive + d.idle
}

// errLingerDone is check's answer when the wait for the peer's FIN after
// a flushed Close ran out: the connection closes with its own reason.
var errLingerDone = &timeoutError{"loop: linger done"}
