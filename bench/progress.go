package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// progress shows how far the orchestrator has come. On a terminal it is
// one line, redrawn in place every second:
//
//	[=======>                      ] 12/48 echo 100c 64B d16 gnet  ETA 3m10s
//
// Elsewhere (a CI log, a file) it writes one plain line per run, the run's
// label when it starts and its summary when it ends:
//
//	[12/48] echo 100c 64B d16 gnet ... 412.3k msg/s, p99 81.0 µs, ...
//
// On a terminal the summaries are not shown (the report has them); errors
// and notes are, as lines above the bar. A progress is safe for concurrent
// use.
type progress struct {
	mu   sync.Mutex // guards everything below
	w    io.Writer
	tty  bool
	bar  bool // a bar is on the screen (tty only)
	tick chan struct{}

	total    int           // runs planned
	planned  time.Duration // their estimated time, summed
	step     int           // runs begun
	label    string        // of the run in progress
	est      time.Duration // estimated time of the run in progress
	began    time.Time     // when it began
	start    time.Time     // when the first run began
	doneEst  time.Duration // estimated time of the runs finished
	doneTook time.Duration // the time they took
}

// prog is the orchestrator's progress display on stderr.
var prog = newProgress(os.Stderr, isTerminal(os.Stderr))

func newProgress(w io.Writer, tty bool) *progress {
	return &progress{w: w, tty: tty}
}

// plan adds n runs of about est each to the total.
func (p *progress) plan(n int, est time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total += n
	p.planned += time.Duration(n) * est
}

// begin starts the next run, expected to take about est (the same estimate
// as its plan).
func (p *progress) begin(label string, est time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.step == 0 {
		p.start = now
	}
	p.step++
	p.label, p.est, p.began = label, est, now
	if !p.tty {
		fmt.Fprintf(p.w, "[%d/%d] %s ... ", p.step, p.total, label)
		return
	}
	if p.tick == nil {
		p.tick = make(chan struct{})
		go p.redraw(p.tick)
	}
	p.draw(now)
}

// end finishes the run in progress with a one-line summary.
func (p *progress) end(summary string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishStep()
	if !p.tty {
		fmt.Fprintln(p.w, summary)
		return
	}
	p.draw(time.Now())
}

// fail finishes the run in progress with an error, which is always shown.
func (p *progress) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishStep()
	if !p.tty {
		fmt.Fprintln(p.w, "ERROR:", err)
		return
	}
	p.clear()
	fmt.Fprintf(p.w, "[%d/%d] %s: ERROR: %v\n", p.step, p.total, p.label, err)
	p.draw(time.Now())
}

// settle finishes the run in progress: with err if it is not nil, counting
// the failed run as one more of *errs, else with summary. It reports
// whether the run failed or counted errors.
func (p *progress) settle(err error, errs *int64, summary string) (failed bool) {
	if err != nil {
		p.fail(err)
		*errs++
		return true
	}
	p.end(summary)
	return *errs > 0
}

// note shows a remark about the run in progress (a first error, a warning).
func (p *progress) note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	if !p.tty {
		fmt.Fprintf(p.w, "(%s) ", msg)
		return
	}
	p.clear()
	fmt.Fprintf(p.w, "[%d/%d] %s: %s\n", p.step, p.total, p.label, msg)
	p.draw(time.Now())
}

// line shows a message of its own, between runs.
func (p *progress) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, format+"\n", args...)
	if p.tty && p.step > 0 {
		p.draw(time.Now())
	}
}

// finish removes the bar and says how long the runs took; the display can
// be used again afterwards.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tick != nil {
		close(p.tick)
		p.tick = nil
	}
	p.clear()
	if p.step > 0 {
		fmt.Fprintf(p.w, "%d runs in %v\n", p.step, time.Since(p.start).Round(time.Second))
	}
}

// interrupt removes the bar, so that a last message starts on a clean line.
func (p *progress) interrupt() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

func (p *progress) finishStep() {
	p.doneEst += p.est
	p.doneTook += time.Since(p.began)
}

// redraw refreshes the bar every second until stop is closed, so that the
// ETA counts down during long runs.
func (p *progress) redraw(stop chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			p.mu.Lock()
			if p.bar {
				p.draw(now)
			}
			p.mu.Unlock()
		}
	}
}

// draw writes the bar over the current line; mu is held.
func (p *progress) draw(now time.Time) {
	left := eta(p.planned, p.doneEst, p.est, p.doneTook, now.Sub(p.began))
	fmt.Fprintf(p.w, "\r%s\x1b[K", barLine(p.step, p.total, p.doneEst, p.planned, p.label, left))
	p.bar = true
}

// clear erases the bar; mu is held.
func (p *progress) clear() {
	if p.bar {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.bar = false
	}
}

// barWidth is the number of cells between the brackets of the bar.
const barWidth = 30

// barLine renders the progress line of run step of total: the bar is
// filled in proportion to the estimated time of the runs finished.
func barLine(step, total int, done, planned time.Duration, label string, left time.Duration) string {
	frac := 0.0
	if planned > 0 {
		frac = min(float64(done)/float64(planned), 1)
	}
	fill := int(frac * barWidth)
	var b strings.Builder
	b.WriteByte('[')
	b.WriteString(strings.Repeat("=", fill))
	if fill < barWidth {
		b.WriteByte('>')
		b.WriteString(strings.Repeat(" ", barWidth-fill-1))
	}
	fmt.Fprintf(&b, "] %d/%d %s  ETA %s", step, total, label, fmtETA(left))
	return b.String()
}

// eta estimates the time left: the estimate of what is not finished,
// scaled by how the finished runs compared with their estimates, minus the
// time already spent on the run in progress (but not below the scaled
// estimate of the runs after it).
func eta(planned, doneEst, curEst, doneTook, inCur time.Duration) time.Duration {
	pace := 1.0
	if doneEst > 0 && doneTook > 0 {
		pace = float64(doneTook) / float64(doneEst)
	}
	rest := time.Duration(pace * float64(planned-doneEst))
	after := time.Duration(pace * float64(planned-doneEst-curEst))
	return max(rest-inCur, after, 0)
}

// fmtETA formats a remaining time to the second: 3m10s, 45s, 1h02m.
func fmtETA(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
}

// isTerminal reports whether f is a terminal (TCGETS succeeds on it).
func isTerminal(f *os.File) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}
