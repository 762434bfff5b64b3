package deploy

import (
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// objectKey names an object by kind and name.
func objectKey(obj runtime.Object) string {
	m, err := meta.Accessor(obj)
	if err != nil {
		return fmt.Sprintf("%T", obj)
	}
	return fmt.Sprintf("%s/%s", obj.GetObjectKind().GroupVersionKind().Kind, m.GetName())
}

// checkKustomization: the kustomization lists every manifest file, once,
// and nothing else; what kustomize builds is exactly what the files hold.
func checkKustomization(b *bundle) error {
	var e errs
	var files []string
	for name := range b.files {
		files = append(files, name)
	}
	slices.Sort(files)
	listed := slices.Sorted(slices.Values(b.kust.Resources))
	if !slices.Equal(slices.Compact(slices.Clone(listed)), listed) {
		e.add("%s lists a resource twice: %q", kustomization, listed)
	}
	for _, f := range files {
		if !slices.Contains(listed, f) {
			e.add("%s does not list %s: kubectl apply -k would not apply it", kustomization, f)
		}
	}
	for _, r := range listed {
		if !slices.Contains(files, r) {
			e.add("%s lists %s, which is not a manifest of %s", kustomization, r, manifestDir)
		}
	}
	var want, got []string
	for _, objs := range b.files {
		for _, o := range objs {
			want = append(want, objectKey(o))
		}
	}
	for _, o := range b.built {
		got = append(got, objectKey(o))
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		e.add("kustomize builds %q, the files hold %q", got, want)
	}
	return e.err()
}

// selected returns the one workload a label selector (a Service's or a
// PodDisruptionBudget's) picks; none or several is an error.
func (b *bundle) selected(sel labels.Selector, who string) (workload, error) {
	if sel.Empty() {
		return workload{}, fmt.Errorf("%s: empty selector", who)
	}
	var hits []workload
	for _, w := range b.workloads() {
		if sel.Matches(labels.Set(w.template.Labels)) {
			hits = append(hits, w)
		}
	}
	if len(hits) != 1 {
		return workload{}, fmt.Errorf("%s: selector %s picks the pods of %d workloads %v, not one", who, sel, len(hits), hits)
	}
	return hits[0], nil
}

// labelsOf is a Service's selector.
func labelsOf(svc *corev1.Service) labels.Selector { return labels.SelectorFromSet(svc.Spec.Selector) }

func selectorOf(who string, ls *metav1.LabelSelector) (labels.Selector, error) {
	if ls == nil {
		return nil, fmt.Errorf("%s: no selector", who)
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", who, err)
	}
	return sel, nil
}

// checkSelectors: each workload's selector (and topology spread) picks its
// own pods and no other workload's; each Service and PodDisruptionBudget
// picks the pods of exactly one workload.
func checkSelectors(b *bundle) error {
	var e errs
	selectors := map[string]*metav1.LabelSelector{}
	for _, d := range b.deployments {
		selectors["Deployment "+d.Name] = d.Spec.Selector
	}
	for _, s := range b.statefulSets {
		selectors["StatefulSet "+s.Name] = s.Spec.Selector
	}
	for _, w := range b.workloads() {
		sel, err := selectorOf(w.String(), selectors[w.String()])
		if err != nil {
			e.addErr(err)
			continue
		}
		if got, err := b.selected(sel, w.String()); err != nil {
			e.addErr(err)
		} else if got.String() != w.String() {
			e.add("%s: its selector %s does not match its pod template's labels %v", w, sel, w.template.Labels)
		}
		for _, tsc := range w.template.Spec.TopologySpreadConstraints {
			tsel, err := selectorOf(w.String()+" topologySpreadConstraints", tsc.LabelSelector)
			if err != nil {
				e.addErr(err)
			} else if !tsel.Matches(labels.Set(w.template.Labels)) {
				e.add("%s: topologySpreadConstraints %s does not select its own pods", w, tsel)
			}
		}
	}
	for _, svc := range b.services {
		_, err := b.selected(labels.SelectorFromSet(svc.Spec.Selector), "Service "+svc.Name)
		e.addErr(err)
	}
	for _, pdb := range b.pdbs {
		sel, err := selectorOf("PodDisruptionBudget "+pdb.Name, pdb.Spec.Selector)
		if err == nil {
			_, err = b.selected(sel, "PodDisruptionBudget "+pdb.Name)
		}
		e.addErr(err)
	}
	return e.err()
}

// checkServicePorts: every Service's targetPort is a port of the pods it
// selects (by name or number).
func checkServicePorts(b *bundle) error {
	var e errs
	for _, svc := range b.services {
		w, err := b.selected(labels.SelectorFromSet(svc.Spec.Selector), "Service "+svc.Name)
		if err != nil {
			continue // checkSelectors says why
		}
		if len(svc.Spec.Ports) == 0 {
			e.add("Service %s: no ports", svc.Name)
		}
		for _, sp := range svc.Spec.Ports {
			if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
				e.add("Service %s port %s: protocol %s", svc.Name, sp.Name, sp.Protocol)
			}
			if _, err := resolvePodPort(w.template, targetPort(sp)); err != nil {
				e.add("Service %s port %s: %w", svc.Name, sp.Name, err)
			}
		}
	}
	return e.err()
}

// resolvePodPort resolves a port by number or name among a pod's containers.
func resolvePodPort(t *corev1.PodTemplateSpec, p intstr.IntOrString) (int32, error) {
	for i := range t.Spec.Containers {
		if port, err := resolveContainerPort(&t.Spec.Containers[i], p); err == nil {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no container port %s in the pods", p.String())
}

// checkNames: names, labels and port names as the API server validates
// them (a Service's name is a DNS-1035 label, a StatefulSet's a DNS-1123
// label since it names pods and hosts).
func checkNames(b *bundle) error {
	var e errs
	for _, obj := range b.built {
		m, _ := meta.Accessor(obj)
		key := objectKey(obj)
		var bad []string
		switch obj.(type) {
		case *corev1.Service:
			bad = validation.IsDNS1035Label(m.GetName())
		case *appsv1.StatefulSet:
			bad = validation.IsDNS1123Label(m.GetName())
		default:
			bad = validation.IsDNS1123Subdomain(m.GetName())
		}
		for _, msg := range bad {
			e.add("%s: name: %s", key, msg)
		}
		e.addErr(metav1validation.ValidateLabels(m.GetLabels(), field.NewPath("metadata", "labels")).ToAggregate())
	}
	for _, w := range b.workloads() {
		e.addErr(metav1validation.ValidateLabels(w.template.Labels, field.NewPath(w.String(), "template", "labels")).ToAggregate())
		seen := map[string]bool{}
		for _, c := range w.template.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == "" {
					e.add("%s container %s: port %d has no name (Services and probes refer to names)", w, c.Name, cp.ContainerPort)
					continue
				}
				for _, msg := range validation.IsValidPortName(cp.Name) {
					e.add("%s container %s: port name %q: %s", w, c.Name, cp.Name, msg)
				}
				if seen[cp.Name] {
					e.add("%s: port name %q twice", w, cp.Name)
				}
				seen[cp.Name] = true
			}
		}
	}
	for _, svc := range b.services {
		for _, sp := range svc.Spec.Ports {
			for _, msg := range validation.IsDNS1123Label(sp.Name) {
				e.add("Service %s: port name %q: %s", svc.Name, sp.Name, msg)
			}
		}
	}
	return e.err()
}

// checkMemoryLimits: every container has a memory limit.
func checkMemoryLimits(b *bundle) error {
	var e errs
	for _, w := range b.workloads() {
		for _, c := range w.template.Spec.Containers {
			if mem, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || mem.IsZero() {
				e.add("%s container %s: no memory limit", w, c.Name)
			}
		}
	}
	return e.err()
}

// disruptions returns how many pods of n a PodDisruptionBudget lets go at once.
func disruptions(pdb *policyv1.PodDisruptionBudget, n int32) (int, error) {
	switch s := pdb.Spec; {
	case s.MaxUnavailable != nil && s.MinAvailable != nil:
		return 0, fmt.Errorf("PodDisruptionBudget %s: both minAvailable and maxUnavailable", pdb.Name)
	case s.MaxUnavailable != nil:
		return intstr.GetScaledValueFromIntOrPercent(s.MaxUnavailable, int(n), false)
	case s.MinAvailable != nil:
		v, err := intstr.GetScaledValueFromIntOrPercent(s.MinAvailable, int(n), true)
		return int(n) - v, err
	}
	return 0, fmt.Errorf("PodDisruptionBudget %s: neither minAvailable nor maxUnavailable", pdb.Name)
}

// checkDisruptionBudgets: the chat and NATS each have a budget that lets a
// node drain go on (at least one pod may go) and keeps the others serving;
// NATS keeps its JetStream quorum.
func checkDisruptionBudgets(b *bundle) error {
	var e errs
	for _, want := range []struct{ name, kind string }{{chatName, "Deployment"}, {natsName, "StatefulSet"}} {
		pdb, err := need(b.pdbs, "PodDisruptionBudget", want.name)
		if err != nil {
			e.addErr(err)
			continue
		}
		sel, err := selectorOf("PodDisruptionBudget "+pdb.Name, pdb.Spec.Selector)
		if err != nil {
			e.addErr(err)
			continue
		}
		w, err := b.selected(sel, "PodDisruptionBudget "+pdb.Name)
		if err != nil {
			e.addErr(err)
			continue
		}
		if w.kind != want.kind || w.name != want.name {
			e.add("PodDisruptionBudget %s covers %s, not %s %s", pdb.Name, w, want.kind, want.name)
		}
		d, err := disruptions(pdb, w.replicas)
		e.addErr(err)
		quorum := 1
		if w.kind == "StatefulSet" {
			quorum = int(w.replicas)/2 + 1
		}
		switch {
		case err != nil:
		case d < 1:
			e.add("PodDisruptionBudget %s: no pod of %s may go: node drains would hang", pdb.Name, w)
		case int(w.replicas)-d < quorum:
			e.add("PodDisruptionBudget %s: %d of %d pods of %s may go at once, below the %d that must stay", pdb.Name, d, w.replicas, w, quorum)
		}
	}
	return e.err()
}
