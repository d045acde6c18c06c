"""gymkube: browser experiments with Gymnasium environments, on one machine or on Kubernetes."""

__version__ = "0.1.0"
