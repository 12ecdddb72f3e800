"""perf-workbench: performance evidence (k6, PostgreSQL, Redis, Prometheus) in DuckDB, analysed and reported."""

__version__ = "0.1.0"
