"""Analysis: pure functions of the store (read-only) or of arrays. No printing, plotting or other I/O."""
