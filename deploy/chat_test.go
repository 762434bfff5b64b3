package deploy

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoalnet/shoal/serve"
)

// The chat's environment: the token key comes from a Secret, and the
// runtime's knobs that the governor and Go set from the container's limits
// are left alone (setting any of them switches that off).
const secretEnv = "CHAT_SECRET"

var handsOff = []string{"GOMEMLIMIT", "GOGC", "GOMAXPROCS"}

// The API server's defaults for a pod without terminationGracePeriodSeconds
// and for a probe that leaves a field zero.
const (
	defaultGrace            = 30 * time.Second
	defaultPeriodSeconds    = 10
	defaultFailureThreshold = 3
)

// chatConfig is the chat container's command line, parsed with the flags
// the binary defines: serve's operational flags (serve.Config.Flags, so a
// renamed or retyped flag fails here) and the chat's own.
type chatConfig struct {
	ops      serve.Config
	addr     string // -addr: the chat's listen address
	nats     string // -nats: the NATS URL
	replicas int    // -nats-replicas: of the history stream and presence bucket
	secret   string // -secret: the token key (the Secret's env is the way)
	set      map[string]bool
	argv     []string
}

// chatFlags registers the flags of examples/chat on fs.
func chatFlags(fs *flag.FlagSet, c *chatConfig) {
	c.ops.Flags(fs, "")
	fs.StringVar(&c.addr, "addr", "", "listen address")
	fs.StringVar(&c.nats, "nats", "", "NATS server URL; empty: one node")
	fs.IntVar(&c.replicas, "nats-replicas", 1, "replicas of the history stream and presence bucket")
	fs.StringVar(&c.secret, "secret", "", "HMAC key for tokens (or env "+secretEnv+")")
}

// parseChat parses a command line (argv[0] is the binary).
func parseChat(argv []string) (*chatConfig, error) {
	if len(argv) == 0 {
		return nil, errors.New("chat: empty command line")
	}
	c := &chatConfig{set: map[string]bool{}, argv: argv}
	fs := flag.NewFlagSet(argv[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	chatFlags(fs, c)
	if err := fs.Parse(argv[1:]); err != nil {
		return nil, fmt.Errorf("chat: command line %q: %w", argv, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("chat: command line %q: arguments after the flags: %q", argv, fs.Args())
	}
	fs.Visit(func(f *flag.Flag) { c.set[f.Name] = true })
	return c, nil
}

// chatPod is the chat Deployment, its container and its command line.
type chatPod struct {
	d   *appsv1.Deployment
	c   *corev1.Container
	cfg *chatConfig
}

// chat finds the chat's Deployment and container and parses its command
// line: the container's command (else the image's ENTRYPOINT) and args.
func (b *bundle) chat() (*chatPod, error) {
	d, err := need(b.deployments, "Deployment", chatName)
	if err != nil {
		return nil, err
	}
	c, err := container(&d.Spec.Template, chatName)
	if err != nil {
		return nil, fmt.Errorf("Deployment %s: %w", chatName, err)
	}
	argv := c.Command
	if len(argv) == 0 {
		if argv, err = b.image.entrypoint(); err != nil {
			return nil, err
		}
	}
	cfg, err := parseChat(append(slices.Clone(argv), c.Args...))
	if err != nil {
		return nil, err
	}
	return &chatPod{d, c, cfg}, nil
}

// listenPort returns the port of a listen address that must accept
// connections from outside the pod (so not a loopback address).
func listenPort(flagName, addr string) (int32, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("chat: -%s %q: %w", flagName, addr, err)
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		return 0, fmt.Errorf("chat: -%s %q listens on %s only; in a pod it must listen on every address (%q)", flagName, addr, host, ":"+port)
	}
	n, err := strconv.ParseInt(port, 10, 32)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("chat: -%s %q: not a fixed port", flagName, addr)
	}
	return int32(n), nil
}

// resolveContainerPort resolves a port by number or name among a
// container's ports.
func resolveContainerPort(c *corev1.Container, p intstr.IntOrString) (int32, error) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort, nil
		}
	}
	return 0, fmt.Errorf("container %s has no port %s", c.Name, p.String())
}

// checkChatPorts: the listen flags, the container's ports, the image's
// EXPOSE and the Service agree; the Service exposes the client port only.
func checkChatPorts(b *bundle) error {
	p, err := b.chat()
	if err != nil {
		return err
	}
	var e errs
	for _, f := range []string{"addr", "admin"} {
		if !p.cfg.set[f] {
			e.add("chat: -%s is not set on the command line %q", f, p.cfg.argv)
		}
	}
	addr, err := listenPort("addr", p.cfg.addr)
	e.addErr(err)
	admin, err := listenPort("admin", p.cfg.ops.Admin)
	e.addErr(err)
	if len(e) > 0 {
		return e.err()
	}
	if addr == admin {
		e.add("chat: -addr and -admin share port %d", addr)
	}
	var ports []int32
	for _, cp := range p.c.Ports {
		ports = append(ports, cp.ContainerPort)
	}
	slices.Sort(ports)
	want := []int32{min(addr, admin), max(addr, admin)}
	if !slices.Equal(ports, want) {
		e.add("Deployment %s: containerPorts %v, the flags listen on %v (-addr, -admin)", chatName, ports, want)
	}
	exposed, err := b.image.exposed()
	e.addErr(err)
	if !slices.Equal(exposed, want) {
		e.add("Dockerfile: EXPOSE %v, the chat listens on %v (-addr, -admin)", exposed, want)
	}

	svc, err := need(b.services, "Service", chatName)
	if err != nil {
		e.addErr(err)
		return e.err()
	}
	if w, err := b.selected(labelsOf(svc), "Service "+svc.Name); err != nil {
		e.addErr(err)
	} else if w.template != &p.d.Spec.Template {
		e.add("Service %s selects %s, not Deployment %s", svc.Name, w, chatName)
	}
	client := false
	for _, sp := range svc.Spec.Ports {
		target, err := resolveContainerPort(p.c, targetPort(sp))
		switch {
		case err != nil:
			e.add("Service %s port %s: %w", svc.Name, sp.Name, err)
		case target == admin:
			e.add("Service %s port %s exposes the admin port %d (pprof, metrics): scrape the pods instead", svc.Name, sp.Name, admin)
		case target == addr:
			client = true
		}
	}
	if !client {
		e.add("Service %s has no port to the chat's -addr port %d", svc.Name, addr)
	}
	return e.err()
}

// targetPort is a Service port's targetPort, defaulted as the API server
// does (to the port).
func targetPort(sp corev1.ServicePort) intstr.IntOrString {
	if sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal == 0 {
		return intstr.FromInt32(sp.Port)
	}
	return sp.TargetPort
}

// checkChatProbes: readiness on /readyz and liveness on /healthz, both on
// the -admin port over HTTP.
func checkChatProbes(b *bundle) error {
	p, err := b.chat()
	if err != nil {
		return err
	}
	admin, err := listenPort("admin", p.cfg.ops.Admin)
	if err != nil {
		return err
	}
	var e errs
	probe := func(kind string, pr *corev1.Probe, paths ...string) {
		switch {
		case pr == nil:
			e.add("chat: no %s probe", kind)
		case pr.HTTPGet == nil:
			e.add("chat: the %s probe is not an HTTP GET", kind)
		default:
			g := pr.HTTPGet
			if !slices.Contains(paths, g.Path) {
				e.add("chat: the %s probe gets %q, not %s", kind, g.Path, strings.Join(paths, " or "))
			}
			if port, err := resolveContainerPort(p.c, g.Port); err != nil || port != admin {
				e.add("chat: the %s probe's port %s is not the -admin port %d (%v)", kind, g.Port.String(), admin, err)
			}
			if g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP {
				e.add("chat: the %s probe uses %s; the admin endpoints serve HTTP", kind, g.Scheme)
			}
		}
	}
	probe("readiness", p.c.ReadinessProbe, "/readyz")
	probe("liveness", p.c.LivenessProbe, "/healthz")
	if p.c.StartupProbe != nil {
		probe("startup", p.c.StartupProbe, "/healthz", "/readyz")
	}
	return e.err()
}

// gracePeriod is a pod's terminationGracePeriodSeconds as applied.
func gracePeriod(spec *corev1.PodSpec) time.Duration {
	if spec.TerminationGracePeriodSeconds == nil {
		return defaultGrace
	}
	return time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
}

var sleepCommand = regexp.MustCompile(`^(?:/bin/|/usr/bin/)?sleep\s+(\d+)s?$`)

// preStopSleep returns how long a container's preStop hook waits before
// the kubelet sends SIGTERM: a sleep action or an exec of sleep (maybe in
// sh -c). Any other hook is an error: how long it takes is unknown.
func preStopSleep(c *corev1.Container) (time.Duration, error) {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		return 0, nil
	}
	h := c.Lifecycle.PreStop
	switch {
	case h.Sleep != nil:
		return time.Duration(h.Sleep.Seconds) * time.Second, nil
	case h.Exec != nil:
		cmd := h.Exec.Command
		if len(cmd) == 3 && (cmd[0] == "sh" || cmd[0] == "/bin/sh") && cmd[1] == "-c" {
			cmd = []string{cmd[2]}
		}
		if m := sleepCommand.FindStringSubmatch(strings.Join(cmd, " ")); m != nil {
			n, _ := strconv.Atoi(m[1])
			return time.Duration(n) * time.Second, nil
		}
	}
	return 0, fmt.Errorf("container %s: a preStop hook other than a sleep: its duration cannot be checked", c.Name)
}

// checkChatShutdown: the drain ends before the kubelet's SIGKILL, and
// something covers endpoint propagation (-pre-drain or a preStop sleep).
//
// The kubelet counts the grace period from the start of the preStop hook;
// the process counts -drain-timeout from SIGTERM, and its -pre-drain is
// inside that deadline (the shutdown coordinator's one deadline covers
// every phase). So grace > preStop + drain-timeout suffices; adding the
// pre-drain too, as here, keeps a margin for the hooks that run after the
// deadline (a bounded moment each) and for a coordinator that one day
// counts the pre-drain apart.
func checkChatShutdown(b *bundle) error {
	p, err := b.chat()
	if err != nil {
		return err
	}
	var e errs
	ops := p.cfg.ops
	grace := gracePeriod(&p.d.Spec.Template.Spec)
	sleep, err := preStopSleep(p.c)
	e.addErr(err)
	if ops.DrainTimeout <= 0 {
		e.add("chat: -drain-timeout %v: no graceful shutdown", ops.DrainTimeout)
	}
	if need := sleep + ops.PreDrain + ops.DrainTimeout; grace <= need {
		e.add("Deployment %s: terminationGracePeriodSeconds %v is not above preStop %v + -pre-drain %v + -drain-timeout %v = %v: the kubelet would kill the drain",
			chatName, grace, sleep, ops.PreDrain, ops.DrainTimeout, need)
	}
	if sleep+ops.PreDrain <= 0 {
		e.add("chat: neither -pre-drain nor a preStop sleep: the listener closes while endpoints still send it connections")
	}
	if ops.PreDrain > 0 && p.c.ReadinessProbe != nil {
		pr := p.c.ReadinessProbe
		period, failures := orDefault(pr.PeriodSeconds, defaultPeriodSeconds), orDefault(pr.FailureThreshold, defaultFailureThreshold)
		if notice := time.Duration(period*failures) * time.Second; notice > ops.PreDrain {
			e.add("chat: the readiness probe notices a failing /readyz after %v (period %ds x %d failures), after the %v -pre-drain",
				notice, period, failures, ops.PreDrain)
		}
	}
	return e.err()
}

// orDefault returns v, or def if v is zero (an API default).
func orDefault(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}

// checkChatResources: a memory limit (the governor's reference) with a
// request no higher, a CPU limit (GOMAXPROCS, so the number of loops,
// follows it), the governor on, and none of the runtime's knobs set by hand.
func checkChatResources(b *bundle) error {
	p, err := b.chat()
	if err != nil {
		return err
	}
	var e errs
	lim, req := p.c.Resources.Limits, p.c.Resources.Requests
	mem, memOK := lim[corev1.ResourceMemory]
	switch {
	case !memOK || mem.IsZero():
		e.add("chat: no memory limit: the governor has nothing to work against")
	case req.Memory().IsZero():
		e.add("chat: no memory request")
	case req.Memory().Cmp(mem) > 0:
		e.add("chat: memory request %s above the limit %s", req.Memory(), &mem)
	}
	if cpu, ok := lim[corev1.ResourceCPU]; !ok || cpu.IsZero() {
		e.add("chat: no CPU limit: GOMAXPROCS, and so the number of event loops, would be the node's CPU count")
	}
	if !p.cfg.ops.Governor {
		e.add("chat: -governor=false: nothing sets GOMEMLIMIT from the memory limit")
	}
	for _, env := range p.c.Env {
		if slices.Contains(handsOff, env.Name) {
			e.add("chat: env %s is set: the governor (GOMEMLIMIT, GOGC) or Go (GOMAXPROCS) sets it from the container's limits, and setting it switches that off", env.Name)
		}
	}
	return e.err()
}

// secretRef returns the Secret and key CHAT_SECRET comes from.
func (p *chatPod) secretRef() (*corev1.SecretKeySelector, error) {
	for _, env := range p.c.Env {
		if env.Name != secretEnv {
			continue
		}
		if env.Value != "" || env.ValueFrom == nil || env.ValueFrom.SecretKeyRef == nil {
			return nil, fmt.Errorf("chat: %s is not from a Secret (valueFrom.secretKeyRef)", secretEnv)
		}
		ref := env.ValueFrom.SecretKeyRef
		if ref.Optional != nil && *ref.Optional {
			return nil, fmt.Errorf("chat: %s's Secret is optional: a pod without it would sign with an empty key", secretEnv)
		}
		return ref, nil
	}
	return nil, fmt.Errorf("chat: no %s in the environment", secretEnv)
}

// checkChatSecret: the token key comes from a Secret, not the command line
// (which the pod spec and ps show), and the README says how to create it.
func checkChatSecret(b *bundle) error {
	p, err := b.chat()
	if err != nil {
		return err
	}
	var e errs
	if p.cfg.set["secret"] {
		e.add("chat: -secret on the command line: the key belongs in the Secret behind %s", secretEnv)
	}
	ref, err := p.secretRef()
	if err != nil {
		e.addErr(err)
		return e.err()
	}
	if !strings.Contains(b.readme, "kubectl create secret generic "+ref.Name) ||
		!regexp.MustCompile(`--from-(literal|file)=`+regexp.QuoteMeta(ref.Key)+`=`).MatchString(b.readme) {
		e.add("README.md does not show kubectl create secret generic %s --from-literal=%s=...", ref.Name, ref.Key)
	}
	return e.err()
}

// checkChatSecurity: the pod runs as non-root, as the image's user.
func checkChatSecurity(b *bundle) error {
	p, err := b.chat()
	if err != nil {
		return err
	}
	var e errs
	uid, err := b.image.user()
	e.addErr(err)
	pod, ctr := p.d.Spec.Template.Spec.SecurityContext, p.c.SecurityContext
	var nonRoot *bool
	var runAs *int64
	if pod != nil {
		nonRoot, runAs = pod.RunAsNonRoot, pod.RunAsUser
	}
	if ctr != nil {
		if ctr.RunAsNonRoot != nil {
			nonRoot = ctr.RunAsNonRoot
		}
		if ctr.RunAsUser != nil {
			runAs = ctr.RunAsUser
		}
	}
	if nonRoot == nil || !*nonRoot {
		e.add("chat: runAsNonRoot is not set")
	}
	if runAs != nil && err == nil && *runAs != uid {
		e.add("chat: runAsUser %d, the image's USER is %d", *runAs, uid)
	}
	return e.err()
}

// checkChatReplicas: three replicas, rolled one new pod at a time.
func checkChatReplicas(b *bundle) error {
	p, err := b.chat()
	if err != nil {
		return err
	}
	var e errs
	if n := replicas(p.d.Spec.Replicas); n != 3 {
		e.add("Deployment %s: %d replicas, not 3", chatName, n)
	}
	if ru := p.d.Spec.Strategy.RollingUpdate; p.d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType ||
		ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "0" {
		e.add("Deployment %s: a rolling update may take pods down before new ones are ready (want maxUnavailable 0)", chatName)
	}
	return e.err()
}

// checkReadme: the README shows the build from the repository root and the
// apply of this directory, with the image name the Deployment runs.
func checkReadme(b *bundle) error {
	p, err := b.chat()
	if err != nil {
		return err
	}
	var e errs
	if !strings.Contains(b.readme, "docker build -f deploy/Dockerfile -t "+p.c.Image+" .") {
		e.add("README.md does not show docker build -f deploy/Dockerfile -t %s . (the image the Deployment runs)", p.c.Image)
	}
	if !strings.Contains(b.readme, "kubectl apply -k deploy/k8s") {
		e.add("README.md does not show kubectl apply -k deploy/k8s")
	}
	return e.err()
}
