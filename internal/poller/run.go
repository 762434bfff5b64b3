//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package poller

// Run is the loop: it waits, hands each batch of events to round (Event
// reads them) and waits again, until round says stop or a wait fails.
// round returns how long the next wait may take: -1 forever, 0 not at all,
// or milliseconds; first is that of the first wait. A timeout calls round
// with 0 events.
func (p *Poller) Run(first int, round func(n int) (next int, stop bool)) error {
	next := first
	for {
		n, err := p.Wait(next)
		if err != nil {
			return err
		}
		var stop bool
		if next, stop = round(n); stop {
			return nil
		}
	}
}
