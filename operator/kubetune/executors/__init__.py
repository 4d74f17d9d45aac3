"""Where trials run: local processes, or Kubernetes Jobs."""
