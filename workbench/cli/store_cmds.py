"""`workbench ls`: what the store holds."""
