package main

import (
	"flag"
	"fmt"
	"time"
)

// scenarioOpts are the flags of the open, connect and push scenarios and
// of CPU pinning.
type scenarioOpts struct {
	rates          *string
	openConns      *string
	openSize       *int
	connectWorkers *int
	pushSubs       *int
	pushRate       *float64
	pushSize       *int
	pushDuration   *time.Duration
	pin            *bool
}

// scenarioFlags defines the flags of the open, connect and push scenarios
// and -pin.
func scenarioFlags() scenarioOpts {
	return scenarioOpts{
		rates:          flag.String("rates", "10000,50000", "open loop: messages per second over all connections, on a fixed schedule"),
		openConns:      flag.String("open-conns", "100", "open loop: connection counts"),
		openSize:       flag.Int("open-size", 64, "open loop: message size in bytes, at least 8"),
		connectWorkers: flag.Int("connect-workers", 16, "connect: goroutines each dialing, echoing once and closing in a loop"),
		pushSubs:       flag.Int("push-subs", 10000, "push: subscribers of the one topic"),
		pushRate:       flag.Float64("push-rate", 100, "push: messages per second from the one publisher"),
		pushSize:       flag.Int("push-size", 128, "push: payload bytes, at least 16"),
		pushDuration:   flag.Duration("push-duration", 10*time.Second, "push: how long the publisher publishes"),
		pin:            flag.Bool("pin", false, "run the servers on the first half of the CPUs and the load generator on the rest (taskset)"),
	}
}

// quickScenarioDefaults are the -quick settings of these flags.
var quickScenarioDefaults = map[string]string{"warmup": "500ms", "rates": "2000", "push-subs": "1000", "push-duration": "3s"}

// parseScenarioOptions checks the flags of scenarioFlags and sets them in o.
func parseScenarioOptions(o *options, f scenarioOpts) error {
	var err error
	if o.rates, err = parseInts("rates", *f.rates, 1); err != nil {
		return err
	}
	if o.openConns, err = parseInts("open-conns", *f.openConns, 1); err != nil {
		return err
	}
	o.openSize, o.connectWorkers = *f.openSize, *f.connectWorkers
	o.pushSubs, o.pushRate, o.pushSize, o.pushDuration = *f.pushSubs, *f.pushRate, *f.pushSize, *f.pushDuration
	switch {
	case o.openSize < stampSize:
		return fmt.Errorf("-open-size must be at least %d", stampSize)
	case o.connectWorkers < 1:
		return fmt.Errorf("-connect-workers must be at least 1")
	case o.pushSubs < 1 || o.pushRate <= 0 || o.pushDuration <= 0:
		return fmt.Errorf("-push-subs must be at least 1, -push-rate and -push-duration positive")
	case o.pushSize < pushHeader:
		return fmt.Errorf("-push-size must be at least %d", pushHeader)
	}
	return nil
}

// idleEstimate is the expected time of one idle run, for the progress bar.
func idleEstimate(conns int) time.Duration {
	return idleSettle + time.Second + time.Duration(conns)*50*time.Microsecond
}
