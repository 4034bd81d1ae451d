"""The embedded local runtime: model-server processes, an HTTP router and a load generator on
127.0.0.1, driven by the same engine as the operator (no cluster needed)."""
