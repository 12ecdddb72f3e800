"""CLI commands for postgres (placeholder until its issue lands)."""
