package deploy

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const natsModule = "github.com/nats-io/nats-server/v2"

// serviceDomain is what may follow a Service's name in a host name in the
// cluster: its namespace, then svc and the cluster domain.
var serviceDomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.svc(\.cluster\.local)?)?$`)

// leaderTransfer is how long lame duck mode waits after handing JetStream
// leadership to the other servers, before it starts its own clock.
const leaderTransfer = time.Second

// natsPod is the NATS StatefulSet, its container, and its configuration as
// nats-server reads it in each pod.
type natsPod struct {
	s        *appsv1.StatefulSet
	c        *corev1.Container
	confPath string
	opts     []*natsserver.Options // by pod ordinal
}

// nats finds the StatefulSet and its config file (a ConfigMap key mounted
// where --config points), and has nats-server's own option processing
// read it once per pod, with the pod's environment: an unknown or
// misspelt field, a wrong value or a variable the pod does not define
// fails, and so do the server's cross-checks (NewServer validates without
// starting anything).
func (b *bundle) nats() (*natsPod, error) {
	s, err := need(b.statefulSets, "StatefulSet", natsName)
	if err != nil {
		return nil, err
	}
	c, err := container(&s.Spec.Template, natsName)
	if err != nil {
		return nil, fmt.Errorf("StatefulSet %s: %w", natsName, err)
	}
	p := &natsPod{s: s, c: c}
	argv := append(slices.Clone(c.Command), c.Args...)
	for i, a := range argv {
		switch {
		case (a == natsConfigArg || a == "-c" || a == "-config") && i+1 < len(argv):
			p.confPath = argv[i+1]
		case strings.HasPrefix(a, natsConfigArg+"="):
			p.confPath = strings.TrimPrefix(a, natsConfigArg+"=")
		}
	}
	if p.confPath == "" {
		return nil, fmt.Errorf("StatefulSet %s: no %s argument", natsName, natsConfigArg)
	}
	conf, err := b.mountedConfigMapFile(&s.Spec.Template.Spec, c, p.confPath)
	if err != nil {
		return nil, fmt.Errorf("StatefulSet %s: %w", natsName, err)
	}
	for i := range replicas(s.Spec.Replicas) {
		pod := fmt.Sprintf("%s-%d", s.Name, i)
		env, err := podEnv(c, pod)
		if err != nil {
			return nil, err
		}
		opts := &natsserver.Options{}
		if err := withEnv(env, func() error { return opts.ProcessConfigString(conf) }); err != nil {
			return nil, fmt.Errorf("%s in pod %s: %w", p.confPath, pod, err)
		}
		srv, err := natsserver.NewServer(opts)
		if err != nil {
			return nil, fmt.Errorf("%s in pod %s: nats-server refuses it: %w", p.confPath, pod, err)
		}
		srv.Shutdown()
		p.opts = append(p.opts, opts)
	}
	return p, nil
}

// mountedConfigMapFile returns the content of the ConfigMap key that a
// container sees at file.
func (b *bundle) mountedConfigMapFile(spec *corev1.PodSpec, c *corev1.Container, file string) (string, error) {
	for _, m := range c.VolumeMounts {
		var key string
		switch {
		case m.SubPath != "" && file == m.MountPath:
			key = m.SubPath
		case m.SubPath == "" && path.Dir(file) == path.Clean(m.MountPath):
			key = path.Base(file)
		default:
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			for _, it := range v.ConfigMap.Items {
				if it.Path == key {
					key = it.Key
				}
			}
			cm, err := need(b.configMaps, "ConfigMap", v.ConfigMap.Name)
			if err != nil {
				return "", err
			}
			data, ok := cm.Data[key]
			if !ok {
				return "", fmt.Errorf("ConfigMap %s has no key %q for %s", cm.Name, key, file)
			}
			return data, nil
		}
	}
	return "", fmt.Errorf("container %s: %s is not a mounted ConfigMap key", c.Name, file)
}

// podEnv returns the environment a container gets in the named pod.
func podEnv(c *corev1.Container, pod string) (map[string]string, error) {
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env[e.Name] = pod
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env[e.Name] = "default"
		default:
			return nil, fmt.Errorf("container %s: env %s: this check does not know its value", c.Name, e.Name)
		}
	}
	return env, nil
}

// withEnv runs fn with the process environment holding env, and puts it
// back after (nats-server resolves $VARS from the environment). The tests
// of this package do not run in parallel.
func withEnv(env map[string]string, fn func() error) error {
	for k, v := range env {
		old, had := os.LookupEnv(k)
		os.Setenv(k, v)
		if had {
			defer os.Setenv(k, old)
		} else {
			defer os.Unsetenv(k)
		}
	}
	return fn()
}

// checkNATSCluster: three servers with unique names, one route to each
// of them by its name under the headless Service, which publishes the
// addresses of pods that are not ready yet (a server is ready once routed).
func checkNATSCluster(b *bundle) error {
	p, err := b.nats()
	if err != nil {
		return err
	}
	var e errs
	n := replicas(p.s.Spec.Replicas)
	if n != 3 {
		e.add("StatefulSet %s: %d replicas, not 3", natsName, n)
	}
	o := p.opts[0]
	for i, po := range p.opts {
		if want := fmt.Sprintf("%s-%d", p.s.Name, i); po.ServerName != want {
			e.add("nats.conf: server_name is %q in pod %s; JetStream needs one unique name per server (its pod's)", po.ServerName, want)
		}
	}
	if _, err := resolveContainerPort(p.c, intstr.FromInt(o.Cluster.Port)); o.Cluster.Port <= 0 || err != nil {
		e.add("nats.conf: cluster port %d is not a container port (%v)", o.Cluster.Port, err)
	}
	headless := p.s.Spec.ServiceName
	var want, got []string
	for i := range n {
		want = append(want, net.JoinHostPort(fmt.Sprintf("%s-%d.%s", p.s.Name, i, headless), strconv.Itoa(o.Cluster.Port)))
	}
	for _, r := range o.Routes {
		host := r.Hostname()
		if labels := strings.Split(host, "."); len(labels) > 2 {
			host = labels[0] + "." + labels[1] // nats-0.nats-headless.NAMESPACE.svc...
		}
		got = append(got, net.JoinHostPort(host, r.Port()))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		e.add("nats.conf: routes %v, not one to each server of the StatefulSet %v", got, want)
	}
	svc, err := need(b.services, "Service", headless)
	if err != nil {
		e.add("StatefulSet %s: serviceName: %w", natsName, err)
		return e.err()
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		e.add("Service %s: not headless (clusterIP: None): no per-pod DNS names for the routes", svc.Name)
	}
	if !svc.Spec.PublishNotReadyAddresses {
		e.add("Service %s: publishNotReadyAddresses is off: servers cannot find each other before they are ready, and they are ready only once routed", svc.Name)
	}
	if w, err := b.selected(labelsOf(svc), "Service "+svc.Name); err == nil && w.name != natsName {
		e.add("Service %s selects %s, not StatefulSet %s", svc.Name, w, natsName)
	}
	if !servesPort(svc, p.c, int32(o.Cluster.Port)) {
		e.add("Service %s has no port to the cluster port %d", svc.Name, o.Cluster.Port)
	}
	return e.err()
}

// servesPort reports whether a Service has a port whose target is port.
func servesPort(svc *corev1.Service, c *corev1.Container, port int32) bool {
	for _, sp := range svc.Spec.Ports {
		if target, err := resolveContainerPort(c, targetPort(sp)); err == nil && target == port {
			return true
		}
	}
	return false
}

// checkNATSJetStream: JetStream on, its store on the pod's volume claim,
// and explicit limits within the claim and the container's memory (the
// defaults are shares of the node's disk and memory).
func checkNATSJetStream(b *bundle) error {
	p, err := b.nats()
	if err != nil {
		return err
	}
	var e errs
	o := p.opts[0]
	if !o.JetStream {
		e.add("nats.conf: JetStream is off")
		return e.err()
	}
	var claim *corev1.PersistentVolumeClaim
	for _, m := range p.c.VolumeMounts {
		if o.StoreDir != path.Clean(m.MountPath) && !strings.HasPrefix(o.StoreDir, path.Clean(m.MountPath)+"/") {
			continue
		}
		for i := range p.s.Spec.VolumeClaimTemplates {
			if p.s.Spec.VolumeClaimTemplates[i].Name == m.Name {
				claim = &p.s.Spec.VolumeClaimTemplates[i]
			}
		}
	}
	if claim == nil {
		e.add("nats.conf: store_dir %q is not on a volume of the StatefulSet's volumeClaimTemplates: the streams would not outlive the pod", o.StoreDir)
	} else {
		size := claim.Spec.Resources.Requests[corev1.ResourceStorage]
		switch {
		case o.JetStreamMaxStore <= 0:
			e.add("nats.conf: no max_file_store: the default is a share of the node's disk, not the claim's %s", &size)
		case o.JetStreamMaxStore > size.Value():
			e.add("nats.conf: max_file_store %d above the claim's %s", o.JetStreamMaxStore, &size)
		}
	}
	limit, err := natsMemoryBudget(p.c)
	switch {
	case err != nil:
		e.addErr(err)
	case o.JetStreamMaxMemory <= 0:
		e.add("nats.conf: no max_memory_store: the default is a share of the node's memory, not the container's")
	case o.JetStreamMaxMemory >= limit:
		e.add("nats.conf: max_memory_store %d not below the container's memory budget %d", o.JetStreamMaxMemory, limit)
	}
	return e.err()
}

// natsMemoryBudget returns the memory nats-server should keep below:
// its GOMEMLIMIT, which must be set (nats-server does not read the
// container's limit) and below the container's memory limit.
func natsMemoryBudget(c *corev1.Container) (int64, error) {
	mem, ok := c.Resources.Limits[corev1.ResourceMemory]
	if !ok || mem.IsZero() {
		return 0, fmt.Errorf("container %s: no memory limit", c.Name)
	}
	for _, env := range c.Env {
		if env.Name != "GOMEMLIMIT" {
			continue
		}
		v, err := parseByteCount(env.Value)
		if err != nil {
			return 0, fmt.Errorf("container %s: GOMEMLIMIT %q: %w", c.Name, env.Value, err)
		}
		if v >= mem.Value() {
			return 0, fmt.Errorf("container %s: GOMEMLIMIT %s not below the memory limit %s", c.Name, env.Value, &mem)
		}
		return v, nil
	}
	return 0, fmt.Errorf("container %s: no GOMEMLIMIT: nats-server's runtime does not know the container's %s limit", c.Name, &mem)
}

// parseByteCount parses a GOMEMLIMIT value as the Go runtime does: a
// number of bytes with an optional B, KiB, MiB, GiB or TiB suffix.
func parseByteCount(s string) (int64, error) {
	num, unit := s, int64(1)
	for i, suffix := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if strings.HasSuffix(s, suffix) {
			num, unit = strings.TrimSuffix(s, suffix), int64(1)<<(10*(i+1))
			break
		}
	}
	if unit == 1 {
		num = strings.TrimSuffix(s, "B")
	}
	n, err := strconv.ParseUint(num, 10, 63)
	if err != nil || num == "" {
		return 0, errors.New("not a byte count (a number with an optional B, KiB, MiB, GiB or TiB)")
	}
	return int64(n) * unit, nil
}

// checkNATSPorts: the client port is served by the client Service, and
// the probes ask the monitoring port's /healthz.
func checkNATSPorts(b *bundle) error {
	p, err := b.nats()
	if err != nil {
		return err
	}
	var e errs
	o := p.opts[0]
	if _, err := resolveContainerPort(p.c, intstr.FromInt(o.Port)); err != nil {
		e.add("nats.conf: client port %d: %w", o.Port, err)
	}
	if svc, err := need(b.services, "Service", natsName); err != nil {
		e.addErr(err)
	} else {
		if w, err := b.selected(labelsOf(svc), "Service "+svc.Name); err == nil && w.name != natsName {
			e.add("Service %s selects %s, not StatefulSet %s", svc.Name, w, natsName)
		}
		if svc.Spec.ClusterIP == corev1.ClusterIPNone {
			e.add("Service %s is headless: clients would resolve one server and keep it", svc.Name)
		}
		if !servesPort(svc, p.c, int32(o.Port)) {
			e.add("Service %s has no port to the client port %d", svc.Name, o.Port)
		}
	}
	if o.HTTPPort <= 0 {
		e.add("nats.conf: no http_port: the probes have no /healthz")
	}
	for kind, pr := range map[string]*corev1.Probe{"readiness": p.c.ReadinessProbe, "liveness": p.c.LivenessProbe, "startup": p.c.StartupProbe} {
		if pr == nil || pr.HTTPGet == nil {
			e.add("nats: no HTTP %s probe", kind)
			continue
		}
		if port, err := resolveContainerPort(p.c, pr.HTTPGet.Port); err != nil || int(port) != o.HTTPPort {
			e.add("nats: the %s probe's port %s is not http_port %d (%v)", kind, pr.HTTPGet.Port.String(), o.HTTPPort, err)
		}
		if u, err := url.Parse(pr.HTTPGet.Path); err != nil || u.Path != "/healthz" {
			e.add("nats: the %s probe gets %q, not /healthz", kind, pr.HTTPGet.Path)
		}
	}
	return e.err()
}

// checkNATSShutdown: preStop puts the server in lame duck mode through its
// pid file (SIGTERM is then ignored until it is done), the pid file is on
// a volume, and lame duck mode ends within the grace period.
func checkNATSShutdown(b *bundle) error {
	p, err := b.nats()
	if err != nil {
		return err
	}
	var e errs
	o := p.opts[0]
	var pid string
	if lc := p.c.Lifecycle; lc != nil && lc.PreStop != nil && lc.PreStop.Exec != nil {
		cmd := lc.PreStop.Exec.Command
		for i, a := range cmd {
			switch {
			case strings.HasPrefix(a, "-sl=ldm=") || strings.HasPrefix(a, "--signal=ldm="):
				_, pid, _ = strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-sl="), "--signal="), "=")
			case (a == "-sl" || a == "--signal") && i+1 < len(cmd) && strings.HasPrefix(cmd[i+1], "ldm="):
				pid = strings.TrimPrefix(cmd[i+1], "ldm=")
			}
		}
		if path.Base(cmd[0]) != "nats-server" {
			pid = ""
		}
	}
	switch {
	case pid == "":
		e.add("nats: no preStop nats-server -sl=ldm=PIDFILE: SIGTERM would stop the server at once, not in lame duck mode")
	case pid != o.PidFile:
		e.add("nats: preStop signals the pid in %s, nats.conf's pid_file is %q", pid, o.PidFile)
	}
	mounted := false
	for _, m := range p.c.VolumeMounts {
		mounted = mounted || path.Dir(o.PidFile) == path.Clean(m.MountPath)
	}
	if o.PidFile != "" && !mounted {
		e.add("nats: pid_file %s is not in a mounted volume (the root filesystem is read-only)", o.PidFile)
	}
	grace := gracePeriod(&p.s.Spec.Template.Spec)
	switch {
	case o.LameDuckDuration <= 0:
		e.add("nats.conf: no lame_duck_duration")
	case o.LameDuckDuration+leaderTransfer >= grace:
		e.add("StatefulSet %s: terminationGracePeriodSeconds %v is not above lame_duck_duration %v + %v of leader transfer",
			natsName, grace, o.LameDuckDuration, leaderTransfer)
	}
	return e.err()
}

// checkNATSImage: the server image is the release whose option processing
// these checks run (the nats-server module of this module's go.mod).
func checkNATSImage(b *bundle) error {
	p, err := b.nats()
	if err != nil {
		return err
	}
	mod, err := requiredVersion(natsModule)
	if err != nil {
		return err
	}
	name, tag, _ := strings.Cut(p.c.Image, ":")
	ver, _, _ := strings.Cut(tag, "-")
	if path.Base(name) != "nats" || "v"+ver != mod {
		return fmt.Errorf("nats: image %s, but the checks read nats.conf with %s %s: keep them at one release", p.c.Image, natsModule, mod)
	}
	return nil
}

// requiredVersion returns the version of a module this module's go.mod
// requires (a test binary carries no module list of its own).
func requiredVersion(module string) (string, error) {
	data, err := os.ReadFile("go.mod")
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(module) + `\s+(v\S+)`).FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("go.mod does not require %s", module)
	}
	return string(m[1]), nil
}

// checkChatNATS: the chat's -nats URL names the NATS client Service and a
// port of it that reaches the servers' client port.
func checkChatNATS(b *bundle) error {
	c, err := b.chat()
	if err != nil {
		return err
	}
	p, err := b.nats()
	if err != nil {
		return err
	}
	u, err := url.Parse(c.cfg.nats)
	if err != nil || u.Scheme != "nats" || u.Hostname() == "" {
		return fmt.Errorf("chat: -nats %q is not a nats:// URL (empty runs one node alone)", c.cfg.nats)
	}
	host := u.Hostname()
	name, rest, _ := strings.Cut(host, ".")
	if rest != "" && !serviceDomain.MatchString(rest) {
		return fmt.Errorf("chat: -nats %q: %s is not a Service name (SERVICE[.NAMESPACE[.svc[.cluster.local]]])", c.cfg.nats, host)
	}
	svc, err := need(b.services, "Service", name)
	if err != nil {
		return fmt.Errorf("chat: -nats %q: %w", c.cfg.nats, err)
	}
	var e errs
	if w, err := b.selected(labelsOf(svc), "Service "+svc.Name); err != nil || w.name != natsName || w.kind != "StatefulSet" {
		e.add("chat: -nats %q: Service %s does not select the NATS servers (%v)", c.cfg.nats, svc.Name, err)
	}
	port := int32(4222) // nats.go's default
	if u.Port() != "" {
		n, _ := strconv.Atoi(u.Port())
		port = int32(n)
	}
	reaches := false
	for _, sp := range svc.Spec.Ports {
		if target, err := resolveContainerPort(p.c, targetPort(sp)); sp.Port == port && err == nil && int(target) == p.opts[0].Port {
			reaches = true
		}
	}
	if !reaches {
		e.add("chat: -nats %q: Service %s has no port %d to the servers' client port %d", c.cfg.nats, svc.Name, port, p.opts[0].Port)
	}
	// History and presence survive a NATS server's restart only with a
	// replica on each server.
	if n := int(replicas(p.s.Spec.Replicas)); c.cfg.replicas != n {
		e.add("chat: -nats-replicas %d, not the %d NATS servers", c.cfg.replicas, n)
	}
	return e.err()
}
