"""Schemathesis hooks: authentication for the contract run.

Each token belongs to a fresh account, registered and logged in through the
API at the user service ($USER_URL), and is replaced every few seconds:
the run itself deletes accounts and changes passwords, which (rightly)
revokes their tokens. Internal routes get the service credential
($SERVICE_CREDENTIAL) instead.
"""

import itertools
import json
import os
import urllib.request

import schemathesis

_accounts = itertools.count()


def _post(path, body):
    request = urllib.request.Request(
        os.environ["USER_URL"] + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@schemathesis.auth(refresh_interval=2)
class FreshAccount:
    def get(self, case, ctx):
        name = f"fuzz_{os.getpid()}_{next(_accounts)}"
        password = "fuzzing password"
        _post("/users", {"username": name, "password": password})
        return _post("/auth/login", {"username": name, "password": password})["token"]

    def set(self, case, data, ctx):
        token = data
        if case.path.startswith("/internal/"):
            token = os.environ["SERVICE_CREDENTIAL"]
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
