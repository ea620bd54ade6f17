"""Settings of the API load test's gunicorn: Latchkey's own, served under bench/load_urls.py,
which adds the two baseline views. Nothing else differs (same middleware, database, DEBUG off),
so the baselines measure the floor the API routes stand on."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.load_urls"
