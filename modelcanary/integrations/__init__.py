"""Integrations with other tools (MLflow). Each module imports its tool lazily."""
