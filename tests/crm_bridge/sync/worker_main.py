"""A sync worker process for the tests: run_worker against the fake vTiger.

Usage: python -m tests.crm_bridge.sync.worker_main
    REDIS_URL DB_URL CRM_URL ACCESS_KEY QUEUE JOB_TIMEOUT STALE_AFTER HTTP_TIMEOUT
"""

from __future__ import annotations

import logging
import sys

from redis import Redis

from crm_bridge.db import make_engine
from crm_bridge.sync.vtiger import VtigerAdapter
from crm_bridge.sync.worker import run_worker


def main(argv: list[str]) -> int:
    redis_url, database_url, crm_url, access_key, queue, job_timeout, stale_after, timeout = argv
    logging.basicConfig(level=logging.INFO)
    adapter = VtigerAdapter(crm_url, "admin", access_key, timeout=float(timeout))
    redis = Redis.from_url(redis_url)
    engine = make_engine(database_url)
    try:
        return run_worker(
            redis,
            engine,
            adapter,
            queue_name=queue,
            retry_intervals=[1, 1, 1],
            job_timeout=int(job_timeout),
            relay_interval=0.3,
            stale_after=float(stale_after),
        )
    finally:
        engine.dispose()
        redis.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
