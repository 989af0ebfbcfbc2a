"""What the tests share, in one place (issue 12: no more copies per area).

- ports.free_port / closed_port: free TCP ports, never fixed ones
- postgres.fresh_database: a throwaway database on the test server
- redis.redis_test_url: the test Redis (each run its own DB number)
- web.served / log_in / session_cookie: the app on a socket, logging in
- browser: Debian's Chromium, axe-core, logging in through the page
- panel: the panel app a test serves (pop hub, test secret, fast hashing, origin)
- tcp.TcpRelay: cut and restore a server (PostgreSQL, Redis, CRM) mid-test
- queue_log: Asterisk's own queue_log read independently of the tracker

Fixtures built on these live in tests/conftest.py.
"""
