"""The lab: real services on loopback ports of their own, for tests, sample capture and `workbench lab`.

Each module starts one real thing (PostgreSQL, Redis, Prometheus, the HTTP target, k6) in a temporary
directory on a free loopback port and stops it cleanly. Never the default ports; never another host.
"""
