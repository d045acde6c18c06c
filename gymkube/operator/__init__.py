"""The Kubernetes operator (kopf): Experiment resources become game-server pods."""
