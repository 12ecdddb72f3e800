"""CLI commands for prometheus (placeholder until its issue lands)."""
