"""Kubernetes adapters (the only package importing ``kubernetes``): objects, workloads,
services, status store, events and secrets for the operator."""
