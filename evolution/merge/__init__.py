"""The merge engine: plans (data), the method registry and its tensor math, model I/O, and the
disk and in-memory materializers that turn a plan into weights."""
