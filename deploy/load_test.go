package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Where the files are, relative to this directory (go test runs in it).
const (
	manifestDir    = "k8s"
	kustomization  = "kustomization.yaml"
	dockerfilePath = "Dockerfile"
	dockerignore   = "Dockerfile.dockerignore" // BuildKit's per-Dockerfile ignore file
	readmePath     = "README.md"
	repoRoot       = ".." // the image's build context
)

// The objects the checks look for by name.
const (
	chatName      = "chat" // Deployment, Service, PodDisruptionBudget and container
	natsName      = "nats" // StatefulSet, client Service, PodDisruptionBudget and container
	natsConfigArg = "--config"
)

// scheme knows the API groups the manifests may use, and nothing else: an
// object of another kind or version (policy/v1beta1, say) fails to decode.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// strictDecoder decodes by apiVersion and kind into the API types, and
// fails on an unknown or misspelt field, a duplicate field, or a value of
// the wrong type, as the API server does with fieldValidation=Strict. It
// neither defaults nor converts.
var strictDecoder = serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()

// decodeStrict decodes every YAML document of data; name says where it
// came from in errors.
func decodeStrict(name string, data []byte) ([]runtime.Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []runtime.Object
	for i := 0; ; i++ {
		doc, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, gvk, err := strictDecoder.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if gvk.Version == "" || gvk.Kind == "" {
			return nil, fmt.Errorf("%s: document %d: no apiVersion or kind", name, i)
		}
		objs = append(objs, obj)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("%s: no objects", name)
	}
	return objs, nil
}

// stripComments drops the comment lines of a YAML document.
func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out.Write(line)
		}
	}
	return out.Bytes()
}

// bundle is everything the checks look at: the manifests as kustomize
// builds them (what kubectl apply -k sends), the files they came from, the
// Dockerfile and the README. The checks read the built objects through
// the indexes; a test may change them to see a check fail.
type bundle struct {
	files map[string][]runtime.Object // each manifest file, decoded
	kust  kusttypes.Kustomization
	built []runtime.Object // kustomize's output, decoded

	deployments  map[string]*appsv1.Deployment
	statefulSets map[string]*appsv1.StatefulSet
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	pdbs         map[string]*policyv1.PodDisruptionBudget

	image  *dockerfile
	ignore []string // Dockerfile.dockerignore's patterns
	readme string
}

// loadBundle reads and decodes everything, failing the test on any error.
func loadBundle(t testing.TB) *bundle {
	t.Helper()
	b, err := readBundle()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readBundle() (*bundle, error) {
	b := &bundle{
		files:        map[string][]runtime.Object{},
		deployments:  map[string]*appsv1.Deployment{},
		statefulSets: map[string]*appsv1.StatefulSet{},
		services:     map[string]*corev1.Service{},
		configMaps:   map[string]*corev1.ConfigMap{},
		pdbs:         map[string]*policyv1.PodDisruptionBudget{},
	}
	names, err := manifestFiles()
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(manifestDir, name))
		if err != nil {
			return nil, err
		}
		if b.files[name], err = decodeStrict(name, data); err != nil {
			return nil, err
		}
	}
	data, err := os.ReadFile(filepath.Join(manifestDir, kustomization))
	if err != nil {
		return nil, err
	}
	if err := yaml.UnmarshalStrict(data, &b.kust); err != nil {
		return nil, fmt.Errorf("%s: %w", kustomization, err)
	}
	built, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), manifestDir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", manifestDir, err)
	}
	out, err := built.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", manifestDir, err)
	}
	if b.built, err = decodeStrict("kustomize build "+manifestDir, out); err != nil {
		return nil, err
	}
	for _, obj := range b.built {
		if err := b.index(obj); err != nil {
			return nil, err
		}
	}
	text, err := os.ReadFile(dockerfilePath)
	if err != nil {
		return nil, err
	}
	if b.image, err = parseDockerfile(string(text)); err != nil {
		return nil, err
	}
	if b.ignore, err = readIgnoreFile(dockerignore); err != nil {
		return nil, err
	}
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		return nil, err
	}
	b.readme = string(readme)
	return b, nil
}

// manifestFiles lists the YAML files of the manifest directory, but for
// the kustomization itself.
func manifestFiles() ([]string, error) {
	entries, err := os.ReadDir(manifestDir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.Type().IsRegular() && (ext == ".yaml" || ext == ".yml") && e.Name() != kustomization {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// index files a built object under its kind and name.
func (b *bundle) index(obj runtime.Object) error {
	var err error
	switch o := obj.(type) {
	case *appsv1.Deployment:
		err = put(b.deployments, o.Name, o)
	case *appsv1.StatefulSet:
		err = put(b.statefulSets, o.Name, o)
	case *corev1.Service:
		err = put(b.services, o.Name, o)
	case *corev1.ConfigMap:
		err = put(b.configMaps, o.Name, o)
	case *policyv1.PodDisruptionBudget:
		err = put(b.pdbs, o.Name, o)
	default:
		err = fmt.Errorf("%T: no check knows this kind; add it to the checks", obj)
	}
	return err
}

func put[T any](m map[string]*T, name string, v *T) error {
	if _, dup := m[name]; dup {
		return fmt.Errorf("%T %q: defined twice", v, name)
	}
	m[name] = v
	return nil
}

// workload is a Deployment's or a StatefulSet's pod template, with what the
// checks need to say which one it is.
type workload struct {
	kind, name string
	replicas   int32
	template   *corev1.PodTemplateSpec
}

func (w workload) String() string { return w.kind + " " + w.name }

// workloads lists every Deployment and StatefulSet, by kind and name.
func (b *bundle) workloads() []workload {
	var ws []workload
	for _, d := range b.deployments {
		ws = append(ws, workload{"Deployment", d.Name, replicas(d.Spec.Replicas), &d.Spec.Template})
	}
	for _, s := range b.statefulSets {
		ws = append(ws, workload{"StatefulSet", s.Name, replicas(s.Spec.Replicas), &s.Spec.Template})
	}
	slices.SortFunc(ws, func(a, b workload) int { return strings.Compare(a.String(), b.String()) })
	return ws
}

// replicas reads a replicas field as the API server defaults it (1).
func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// container returns the named container of a pod template.
func container(t *corev1.PodTemplateSpec, name string) (*corev1.Container, error) {
	for i := range t.Spec.Containers {
		if t.Spec.Containers[i].Name == name {
			return &t.Spec.Containers[i], nil
		}
	}
	return nil, fmt.Errorf("no container %q", name)
}

// need returns m[name] or an error naming what is missing.
func need[T any](m map[string]*T, kind, name string) (*T, error) {
	if v, ok := m[name]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("no %s %q in the manifests", kind, name)
}

// errs gathers a check's findings.
type errs []error

func (e *errs) add(format string, args ...any) { *e = append(*e, fmt.Errorf(format, args...)) }
func (e *errs) addErr(err error) {
	if err != nil {
		*e = append(*e, err)
	}
}
func (e errs) err() error { return errors.Join(e...) }
