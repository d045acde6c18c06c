"""How an experiment comes to run: game pods as local processes, or (later) on Kubernetes."""
