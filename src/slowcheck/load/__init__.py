"""Load runs: scenarios in locust's own process, and the reports they produce.

Only the ``harness`` package imports locust (it patches the standard library on import); the locustfiles in
``load/`` import it, nothing in the package does. Everything else here is plain Python the CLI can use.
"""
