package deploy

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// checks is every invariant the manifests, the Dockerfile and the README
// must hold; each returns all it finds wrong.
var checks = []struct {
	name  string
	check func(*bundle) error
}{
	{"Kustomization", checkKustomization},
	{"Names", checkNames},
	{"Selectors", checkSelectors},
	{"ServicePorts", checkServicePorts},
	{"MemoryLimits", checkMemoryLimits},
	{"DisruptionBudgets", checkDisruptionBudgets},
	{"Dockerfile", checkDockerfile},
	{"BuildContext", checkBuildContext},
	{"ChatPorts", checkChatPorts},
	{"ChatProbes", checkChatProbes},
	{"ChatShutdown", checkChatShutdown},
	{"ChatResources", checkChatResources},
	{"ChatSecret", checkChatSecret},
	{"ChatSecurity", checkChatSecurity},
	{"ChatReplicas", checkChatReplicas},
	{"ChatNATS", checkChatNATS},
	{"NATSCluster", checkNATSCluster},
	{"NATSJetStream", checkNATSJetStream},
	{"NATSPorts", checkNATSPorts},
	{"NATSShutdown", checkNATSShutdown},
	{"NATSImage", checkNATSImage},
	{"Readme", checkReadme},
}

// TestDeploy decodes every manifest strictly, builds the kustomization and
// runs every check on what it builds.
func TestDeploy(t *testing.T) {
	b := loadBundle(t)
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if err := c.check(b); err != nil {
				t.Error(err)
			}
		})
	}
}
