"""`workbench report` and `workbench demo`."""
