package deploy

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Helpers that change one thing of a loaded bundle.

func chatC(b *bundle) *corev1.Container {
	return &b.deployments[chatName].Spec.Template.Spec.Containers[0]
}
func natsC(b *bundle) *corev1.Container {
	return &b.statefulSets[natsName].Spec.Template.Spec.Containers[0]
}
func chatSpec(b *bundle) *corev1.PodSpec { return &b.deployments[chatName].Spec.Template.Spec }

// chatArgs appends to the chat's args; a flag given again wins.
func chatArgs(args ...string) func(*testing.T, *bundle) {
	return func(_ *testing.T, b *bundle) { chatC(b).Args = append(chatC(b).Args, args...) }
}

func replaceIn(t *testing.T, s *string, old, new string) {
	t.Helper()
	if !strings.Contains(*s, old) {
		t.Fatalf("%q is not in the text: the case tests nothing", old)
	}
	*s = strings.Replace(*s, old, new, 1)
}

// conf replaces text in nats.conf.
func conf(old, new string) func(*testing.T, *bundle) {
	return func(t *testing.T, b *bundle) {
		cm := b.configMaps["nats-config"]
		s := cm.Data["nats.conf"]
		replaceIn(t, &s, old, new)
		cm.Data["nats.conf"] = s
	}
}

// docker replaces text in the Dockerfile and parses it again.
func docker(old, new string) func(*testing.T, *bundle) {
	return func(t *testing.T, b *bundle) {
		text := b.image.text
		replaceIn(t, &text, old, new)
		d, err := parseDockerfile(text)
		if err != nil {
			t.Fatal(err)
		}
		b.image = d
	}
}

func env(name, value string) func(*testing.T, *bundle) {
	return func(_ *testing.T, b *bundle) {
		chatC(b).Env = append(chatC(b).Env, corev1.EnvVar{Name: name, Value: value})
	}
}

func envValue(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// TestChecksCatch changes one thing at a time that would break a rollout or
// a drain, and expects the check for it to say so.
func TestChecksCatch(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*testing.T, *bundle)
		check  func(*bundle) error
		want   string
	}{
		// The kustomization.
		{"file not listed", func(_ *testing.T, b *bundle) { b.kust.Resources = b.kust.Resources[1:] }, checkKustomization, "does not list"},
		{"file listed twice", func(_ *testing.T, b *bundle) { b.kust.Resources = append(b.kust.Resources, b.kust.Resources[0]) }, checkKustomization, "twice"},
		{"listed file absent", func(_ *testing.T, b *bundle) { b.kust.Resources = append(b.kust.Resources, "hpa.yaml") }, checkKustomization, "not a manifest"},
		{"built differs", func(_ *testing.T, b *bundle) { b.built = b.built[1:] }, checkKustomization, "kustomize builds"},

		// Names, labels, selectors, ports.
		{"service name", func(_ *testing.T, b *bundle) { b.services[chatName].Name = "chat_svc" }, checkNames, "name:"},
		{"label key", func(_ *testing.T, b *bundle) { b.configMaps["nats-config"].Labels["bad key"] = "x" }, checkNames, "labels"},
		{"port name too long", func(_ *testing.T, b *bundle) { chatC(b).Ports[0].Name = "websocket-clients" }, checkNames, "port name"},
		{"selector misses template", func(_ *testing.T, b *bundle) {
			b.deployments[chatName].Spec.Selector.MatchLabels["app.kubernetes.io/name"] = "chat2"
		}, checkSelectors, "picks the pods of 0 workloads"},
		{"service selects both", func(_ *testing.T, b *bundle) {
			b.services[chatName].Spec.Selector = map[string]string{"app.kubernetes.io/part-of": "shoal-chat"}
		}, checkSelectors, "picks the pods of 2 workloads"},
		{"pdb selects nothing", func(_ *testing.T, b *bundle) {
			b.pdbs[natsName].Spec.Selector.MatchLabels["app.kubernetes.io/name"] = "natz"
		}, checkSelectors, "PodDisruptionBudget nats: selector"},
		{"spread selects others", func(_ *testing.T, b *bundle) {
			chatSpec(b).TopologySpreadConstraints[0].LabelSelector.MatchLabels["app.kubernetes.io/name"] = "nats"
		}, checkSelectors, "topologySpreadConstraints"},
		{"target port name", func(_ *testing.T, b *bundle) {
			b.services["nats-headless"].Spec.Ports[1].TargetPort = intstr.FromString("clustr")
		}, checkServicePorts, "no container port clustr"},
		{"no memory limit", func(_ *testing.T, b *bundle) { delete(natsC(b).Resources.Limits, corev1.ResourceMemory) }, checkMemoryLimits, "no memory limit"},
		{"pdb blocks drains", func(_ *testing.T, b *bundle) { b.pdbs[chatName].Spec.MaxUnavailable = ptr(intstr.FromInt32(0)) }, checkDisruptionBudgets, "node drains would hang"},
		{"pdb min all", func(_ *testing.T, b *bundle) {
			b.pdbs[chatName].Spec.MaxUnavailable, b.pdbs[chatName].Spec.MinAvailable = nil, ptr(intstr.FromString("100%"))
		}, checkDisruptionBudgets, "node drains would hang"},
		{"pdb breaks quorum", func(_ *testing.T, b *bundle) { b.pdbs[natsName].Spec.MaxUnavailable = ptr(intstr.FromInt32(2)) }, checkDisruptionBudgets, "below the 2 that must stay"},

		// The Dockerfile.
		{"cgo on", docker("CGO_ENABLED=0 ", ""), checkDockerfile, "CGO_ENABLED=0"},
		{"no trimpath", docker("-trimpath ", ""), checkDockerfile, "-trimpath"},
		{"symbols kept", docker(`-ldflags="-s -w"`, `-ldflags="-s"`), checkDockerfile, "not -s -w"},
		{"another package", docker("./examples/chat\n", "./examples/push\n"), checkDockerfile, "no stage before the final one runs go build"},
		{"fat final image", docker("gcr.io/distroless/static-debian13:nonroot", "debian:13"), checkDockerfile, "not scratch or distroless/static"},
		{"scratch without certs", docker("gcr.io/distroless/static-debian13:nonroot", "scratch"), checkDockerfile, "CA certificates"},
		{"user by name", docker("USER 65532:65532", "USER nonroot"), checkDockerfile, "not numeric"},
		{"user root", docker("USER 65532:65532", "USER 0"), checkDockerfile, "is root"},
		{"no user", docker("USER 65532:65532\n", ""), checkDockerfile, "no USER"},
		{"shell entrypoint", docker(`ENTRYPOINT ["/chat", "-addr", ":8082", "-admin", ":9093"]`, `ENTRYPOINT /chat -addr :8082 -admin :9093`), checkDockerfile, "shell form"},
		{"entrypoint elsewhere", docker("COPY --from=build /out/chat /chat", "COPY --from=build /out/chat /server"), checkDockerfile, "ENTRYPOINT runs"},
		{"old go", docker("GO_VERSION=1.26.8", "GO_VERSION=1.25.3"), checkDockerfile, "older than"},
		{"copy outside the context", docker("COPY go.mod go.sum ./", "COPY go.mod go.sum go.work ./"), checkDockerfile, "not in the build context"},
		{"stage AS casing", docker("AS build", "as build"), checkDockerfile, "FromAsCasing"},
		{"context loses a package", func(_ *testing.T, b *bundle) { b.ignore = append(b.ignore, "server") }, checkBuildContext, "leaves server/"},
		{"context loses go.sum", func(_ *testing.T, b *bundle) { b.ignore = append(b.ignore, "*.sum") }, checkBuildContext, "leaves go.sum"},

		// The chat's ports and probes.
		{"expose differs", docker("EXPOSE 8082 9093", "EXPOSE 8080 9093"), checkChatPorts, "EXPOSE"},
		{"listen on loopback", chatArgs("-addr", "127.0.0.1:8082"), checkChatPorts, "listens on 127.0.0.1 only"},
		{"admin off", chatArgs("-admin", ""), checkChatPorts, "-admin"},
		{"container port differs", func(_ *testing.T, b *bundle) { chatC(b).Ports[0].ContainerPort = 8080 }, checkChatPorts, "containerPorts"},
		{"service exposes admin", func(_ *testing.T, b *bundle) {
			b.services[chatName].Spec.Ports[0].TargetPort = intstr.FromString("admin")
		}, checkChatPorts, "exposes the admin port"},
		{"readiness on healthz", func(_ *testing.T, b *bundle) { chatC(b).ReadinessProbe.HTTPGet.Path = "/healthz" }, checkChatProbes, "not /readyz"},
		{"liveness on client port", func(_ *testing.T, b *bundle) { chatC(b).LivenessProbe.HTTPGet.Port = intstr.FromString("http") }, checkChatProbes, "not the -admin port"},
		{"no readiness", func(_ *testing.T, b *bundle) { chatC(b).ReadinessProbe = nil }, checkChatProbes, "no readiness probe"},

		// The chat's shutdown timing.
		{"grace too short", func(_ *testing.T, b *bundle) { chatSpec(b).TerminationGracePeriodSeconds = ptr(int64(30)) }, checkChatShutdown, "is not above"},
		{"grace default", func(_ *testing.T, b *bundle) { chatSpec(b).TerminationGracePeriodSeconds = nil }, checkChatShutdown, "is not above"},
		{"longer drain", chatArgs("-drain-timeout", "40s"), checkChatShutdown, "is not above"},
		{"no pre-drain", chatArgs("-pre-drain", "0s"), checkChatShutdown, "neither -pre-drain nor a preStop sleep"},
		{"preStop sleep counted", func(t *testing.T, b *bundle) {
			chatC(b).Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 15}}}
		}, checkChatShutdown, "preStop 15s"},
		{"preStop exec sleep counted", func(t *testing.T, b *bundle) {
			chatC(b).Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "sleep 15"}}}}
		}, checkChatShutdown, "preStop 15s"},
		{"preStop of unknown length", func(t *testing.T, b *bundle) {
			chatC(b).Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/drain.sh"}}}}
		}, checkChatShutdown, "other than a sleep"},
		{"readiness slower than pre-drain", func(_ *testing.T, b *bundle) {
			chatC(b).ReadinessProbe.PeriodSeconds, chatC(b).ReadinessProbe.FailureThreshold = 0, 0
		}, checkChatShutdown, "after the 5s -pre-drain"},
		{"no drain", chatArgs("-drain-timeout", "0s"), checkChatShutdown, "no graceful shutdown"},
		{"misspelt flag", chatArgs("-pre-drian", "5s"), checkChatShutdown, "flag provided but not defined: -pre-drian"},
		{"one NATS replica", chatArgs("-nats-replicas", "1"), checkChatNATS, "-nats-replicas 1, not the 3 NATS servers"},
		{"stray argument", chatArgs("nats://nats:4222"), checkChatShutdown, "arguments after the flags"},

		// The chat's resources, secret and security.
		{"chat without memory limit", func(_ *testing.T, b *bundle) { delete(chatC(b).Resources.Limits, corev1.ResourceMemory) }, checkChatResources, "no memory limit"},
		{"request above limit", func(_ *testing.T, b *bundle) {
			chatC(b).Resources.Requests[corev1.ResourceMemory] = resource.MustParse("1Gi")
		}, checkChatResources, "above the limit"},
		{"no cpu limit", func(_ *testing.T, b *bundle) { delete(chatC(b).Resources.Limits, corev1.ResourceCPU) }, checkChatResources, "no CPU limit"},
		{"GOMEMLIMIT by hand", env("GOMEMLIMIT", "460MiB"), checkChatResources, "env GOMEMLIMIT is set"},
		{"GOMAXPROCS by hand", env("GOMAXPROCS", "2"), checkChatResources, "env GOMAXPROCS is set"},
		{"governor off", chatArgs("-governor=false"), checkChatResources, "-governor=false"},
		{"literal secret", func(_ *testing.T, b *bundle) {
			*envValue(chatC(b), secretEnv) = corev1.EnvVar{Name: secretEnv, Value: "hunter2"}
		}, checkChatSecret, "not from a Secret"},
		{"optional secret", func(_ *testing.T, b *bundle) {
			envValue(chatC(b), secretEnv).ValueFrom.SecretKeyRef.Optional = ptr(true)
		}, checkChatSecret, "optional"},
		{"secret on the command line", chatArgs("-secret", "hunter2"), checkChatSecret, "-secret on the command line"},
		{"readme without the secret", func(t *testing.T, b *bundle) {
			replaceIn(t, &b.readme, "kubectl create secret generic chat-secret", "kubectl create secret generic chat")
		}, checkChatSecret, "README.md does not show kubectl create secret"},
		{"root allowed", func(_ *testing.T, b *bundle) { chatSpec(b).SecurityContext.RunAsNonRoot = nil }, checkChatSecurity, "runAsNonRoot"},
		{"another uid", func(_ *testing.T, b *bundle) {
			chatC(b).SecurityContext.RunAsUser = ptr(int64(1000))
		}, checkChatSecurity, "the image's USER is 65532"},
		{"two replicas", func(_ *testing.T, b *bundle) { b.deployments[chatName].Spec.Replicas = ptr(int32(2)) }, checkChatReplicas, "not 3"},
		{"rollout drops a pod", func(_ *testing.T, b *bundle) {
			b.deployments[chatName].Spec.Strategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromInt32(1))
		}, checkChatReplicas, "maxUnavailable 0"},

		// The chat's way to NATS.
		{"nats service misspelt", chatArgs("-nats", "nats://natz:4222"), checkChatNATS, `no Service "natz"`},
		{"nats port", chatArgs("-nats", "nats://nats:4223"), checkChatNATS, "no port 4223"},
		{"nats in another form", chatArgs("-nats", "nats://nats.default.example:4222"), checkChatNATS, "not a Service name"},
		{"nats off", chatArgs("-nats", ""), checkChatNATS, "not a nats:// URL"},
		{"nats over http", chatArgs("-nats", "http://nats:4222"), checkChatNATS, "not a nats:// URL"},
		{"nats via the chat", chatArgs("-nats", "nats://chat:80"), checkChatNATS, "does not select the NATS servers"},

		// The NATS cluster.
		{"five servers", func(_ *testing.T, b *bundle) { b.statefulSets[natsName].Spec.Replicas = ptr(int32(5)) }, checkNATSCluster, "routes"},
		{"route missing", conf("    nats://nats-2.nats-headless:6222\n", ""), checkNATSCluster, "routes"},
		{"route to the client service", conf("nats://nats-2.nats-headless:6222", "nats://nats:6222"), checkNATSCluster, "routes"},
		{"one server name", conf("server_name: $POD_NAME", "server_name: nats"), checkNATSCluster, "server_name is"},
		{"no cluster name", conf("name: shoal-chat\n", ""), checkNATSCluster, "requires `cluster.name`"},
		{"not published before ready", func(_ *testing.T, b *bundle) {
			b.services["nats-headless"].Spec.PublishNotReadyAddresses = false
		}, checkNATSCluster, "publishNotReadyAddresses"},
		{"headless not headless", func(_ *testing.T, b *bundle) { b.services["nats-headless"].Spec.ClusterIP = "" }, checkNATSCluster, "not headless"},
		{"unknown variable", conf("server_name: $POD_NAME", "server_name: $HOSTNAME_OF_POD"), checkNATSCluster, "HOSTNAME_OF_POD"},
		{"misspelt field", conf("max_file_store:", "max_file_stor:"), checkNATSJetStream, "unknown field"},
		{"misspelt top-level field", conf("lame_duck_duration:", "lame_duck_duraton:"), checkNATSShutdown, "unknown field"},
		{"grace period over duration", conf("lame_duck_grace_period: 10s", "lame_duck_grace_period: 40s"), checkNATSShutdown, "lame duck grace period"},
		{"jetstream off", conf("jetstream {", "jetstream: false\nnot_jetstream {"), checkNATSJetStream, "unknown field"},
		{"store off the claim", conf("store_dir: /data", "store_dir: /tmp/js"), checkNATSJetStream, "not on a volume"},
		{"file store over the claim", conf("max_file_store: 8GiB", "max_file_store: 20GiB"), checkNATSJetStream, "above the claim"},
		{"file store unbounded", conf("max_file_store: 8GiB\n", ""), checkNATSJetStream, "no max_file_store"},
		{"memory store unbounded", conf("max_memory_store: 64MiB\n", ""), checkNATSJetStream, "no max_memory_store"},
		{"memory store over the limit", conf("max_memory_store: 64MiB", "max_memory_store: 1GiB"), checkNATSJetStream, "not below"},
		{"GOMEMLIMIT over the limit", func(_ *testing.T, b *bundle) { envValue(natsC(b), "GOMEMLIMIT").Value = "600MiB" }, checkNATSJetStream, "not below the memory limit"},
		{"GOMEMLIMIT in the wrong unit", func(_ *testing.T, b *bundle) { envValue(natsC(b), "GOMEMLIMIT").Value = "460M" }, checkNATSJetStream, "not a byte count"},
		{"client port off", conf("port: 4222", "port: 4223"), checkNATSPorts, "client port 4223"},
		{"probe on the client port", func(_ *testing.T, b *bundle) { natsC(b).ReadinessProbe.HTTPGet.Port = intstr.FromString("nats") }, checkNATSPorts, "not http_port"},
		{"headless clients", func(_ *testing.T, b *bundle) { b.services[natsName].Spec.ClusterIP = corev1.ClusterIPNone }, checkNATSPorts, "is headless"},
		{"no lame duck", func(_ *testing.T, b *bundle) { natsC(b).Lifecycle = nil }, checkNATSShutdown, "no preStop"},
		{"pid file elsewhere", conf("pid_file: /var/run/nats/nats.pid", "pid_file: /tmp/nats.pid"), checkNATSShutdown, "pid_file"},
		{"nats grace too short", func(_ *testing.T, b *bundle) {
			b.statefulSets[natsName].Spec.Template.Spec.TerminationGracePeriodSeconds = ptr(int64(30))
		}, checkNATSShutdown, "not above lame_duck_duration"},
		{"another nats release", func(_ *testing.T, b *bundle) { natsC(b).Image = "nats:2.14.0-alpine" }, checkNATSImage, "one release"},

		// The README.
		{"readme builds another image", func(_ *testing.T, b *bundle) { chatC(b).Image = "example/chat:1" }, checkReadme, "-t example/chat"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := loadBundle(t)
			c.mutate(t, b)
			err := c.check(b)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}

// TestDecodeStrict: what the strict decoder refuses.
func TestDecodeStrict(t *testing.T) {
	const deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n"
	cases := []struct {
		name, doc, want string
	}{
		{"unknown field", deployment + "spec:\n  replicaz: 3\n", `unknown field "spec.replicaz"`},
		{"misspelt container field", deployment + "spec:\n  template:\n    spec:\n      containers:\n      - name: x\n        imagePullPolicyy: Always\n", "imagePullPolicyy"},
		{"wrong case", deployment + "spec:\n  Replicas: 3\n", `unknown field "spec.Replicas"`},
		{"duplicate field", deployment + "spec:\n  replicas: 3\n  replicas: 4\n", `already set`},
		{"wrong type", deployment + "spec:\n  replicas: three\n", "cannot unmarshal"},
		{"unknown kind", "apiVersion: apps/v1\nkind: Deploymnet\nmetadata:\n  name: x\n", `no kind "Deploymnet"`},
		{"removed version", "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: x\n", `policy/v1beta1`},
		{"no kind", "apiVersion: v1\nmetadata:\n  name: x\n", "Kind"},
		{"unregistered group", "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: x\n", "autoscaling/v2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeStrict(c.name, []byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}

// TestParseDockerfileRefuses: what BuildKit's parser refuses outright.
func TestParseDockerfileRefuses(t *testing.T) {
	base := "FROM golang:1.26.8 AS build\nRUN go build ./examples/chat\nFROM scratch\n"
	cases := []struct {
		name, text, want string
	}{
		{"unknown instruction", base + "EXPOZE 8082\n", "unknown instruction"},
		{"unknown flag", base + "COPY --frm=build /out/chat /chat\n", "unknown flag"},
		{"no FROM", "RUN true\n", "no build stage"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseDockerfile(c.text)
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(c.want)) {
				t.Errorf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}
