"""CLI commands for redis (placeholder until its issue lands)."""
