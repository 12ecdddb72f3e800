"""CLI commands for compare (placeholder until its issue lands)."""
