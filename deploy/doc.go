// Package deploy holds the container image and the Kubernetes manifests of
// the chat server (examples/chat) with a three-server NATS cluster, and the
// tests that check them without a cluster or a Docker daemon.
//
// It is a Go module of its own so that the engine's module does not take
// Kubernetes dependencies. Run its checks from this directory:
//
//	go vet ./... && go test ./...
//
// What they check, and why the numbers line up, is in README.md.
package deploy
