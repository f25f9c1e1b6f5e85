"""Shared test setup: the service refuses to start without a secret key."""

import os

os.environ.setdefault("SECRET_KEY", "only-for-tests")
