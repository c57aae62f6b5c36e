"""Fixtures of the browser tests: the app in both deployment modes, and
headless Chromium (Debian's, never a downloaded one) driven by Playwright.

Each deployment is started here on free loopback ports with fresh stores,
under the runtime $SPIN names (real Spin, or the embedded host's binary,
which takes the same flags). In three-instance mode the browser talks to
the web instance only, which forwards the API to the three services.
"""

import itertools
import json
import os
import secrets
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SPIN = os.environ.get("SPIN") or str(ROOT / "target/debug/host")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("SCREENSHOTS", ROOT / "docs/screenshots"))

DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}

SERVICES = ("user", "post", "feed")
_names = itertools.count()


def unique(name):
    """A username no other test of this run has taken."""
    return f"{name}_{os.getpid() % 1000}_{next(_names)}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Instance:
    """One `spin up` (or `host up`) process."""

    def __init__(self, name, workdir, port, flags):
        self.name, self.workdir, self.port, self.flags = name, workdir, port, flags
        self.url = f"http://127.0.0.1:{port}"
        self.process = None

    def start(self):
        log = open(self.workdir / f"{self.name}.log", "ab")
        self.process = subprocess.Popen(
            [SPIN, "up", "--from", str(ROOT / "spin.toml"),
             "--listen", f"127.0.0.1:{self.port}",
             "--runtime-config-file", str(self.workdir / "rc.toml"),
             "--state-dir", str(self.workdir / f"state-{self.name}"), *self.flags],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        ready = "/" if self.name in ("app", "web") else f"/health/{self.name}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                urllib.request.urlopen(self.url + ready, timeout=1).close()
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start:\n{self.output()}")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def output(self):
        path = self.workdir / f"{self.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


class Deployment:
    """The app in one mode; `url` is the origin the browser opens."""

    def __init__(self, mode, **overrides):
        self.mode = mode
        self._tmp = tempfile.TemporaryDirectory(prefix=f"browser-{mode}-")
        work = Path(self._tmp.name)
        stores = "".join(
            f'[{kind}.{label}]\ntype = "spin"\npath = "{work / label}.db"\n'
            for kind, label in [("sqlite_database", "users"), ("sqlite_database", "posts"),
                                ("sqlite_database", "feed"), ("key_value_store", "post_cache"),
                                ("key_value_store", "feed_cache")])
        (work / "rc.toml").write_text(stores)
        # Every test signs up from one address: the rate limits are off
        # unless a test switches one on.
        variables = {"password_iterations": "1000", "service_credential": secrets.token_hex(16)}
        variables |= {f"rate_limit_{what}": "0" for what in
                      ("signups", "failed_logins_per_user", "failed_logins_per_address",
                       "follows", "posts", "likes")}
        variables |= overrides
        flags = [arg for k, v in variables.items() for arg in ("--variable", f"{k}={v}")]
        if mode == "one-app":
            port = free_port()
            # The WASIp3 post reaches its own application through the
            # listener (ADR 0034).
            own = ["--variable", f"app_url=http://127.0.0.1:{port}"]
            self.instances = {"app": Instance("app", work, port, [*flags, *own])}
            self.url = self.instances["app"].url
        else:
            ports = {name: free_port() for name in (*SERVICES, "web")}
            urls = [arg for s in SERVICES for arg in
                    ("--variable", f"{s}_service_url=http://127.0.0.1:{ports[s]}")]
            self.instances = {name: Instance(name, work, port, [*flags, *urls, "-c", name])
                              for name, port in ports.items()}
            self.url = self.instances["web"].url
        try:
            for instance in self.instances.values():
                instance.start()
        except Exception:
            self.close()
            raise

    def close(self):
        for instance in self.instances.values():
            instance.stop()
        self._tmp.cleanup()

    def api(self, method, path, body=None, token=None):
        """Calls the API at the web's origin; returns (status, JSON or None)."""
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers=headers,
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, json.loads(raw) if raw else None

    def account(self, username, display_name=None, bio=None):
        """Signs `username` up through the API; returns a token."""
        body = {"username": username, "password": f"{username} password"}
        if display_name:
            body["display_name"] = display_name
        if bio:
            body["bio"] = bio
        status, answer = self.api("POST", "/users", body)
        assert status == 201, answer
        status, answer = self.api("POST", "/auth/login",
                                  {"username": username, "password": f"{username} password"})
        assert status == 200, answer
        return answer["token"]


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module", params=["one-app", "three-instances"])
def deployment(request):
    """The app in each mode in turn, shared by a module's tests."""
    deployment = Deployment(request.param)
    yield deployment
    deployment.close()


@pytest.fixture
def own_three_instances():
    """Three instances and the web, for a test that stops one of them."""
    deployment = Deployment("three-instances")
    yield deployment
    deployment.close()


@pytest.fixture
def strict_logins():
    """One application that allows two failed logins per username."""
    deployment = Deployment("one-app", rate_limit_failed_logins_per_user="2")
    yield deployment
    deployment.close()


@pytest.fixture
def person(browser, request):
    """Opens browser contexts (one per person, like separate browsers) and
    fails the test on any script error or blocked resource in them."""
    contexts, problems = [], []

    def open_context(**options):
        context = browser.new_context(**(options or DESKTOP))
        context.set_default_timeout(10_000)
        page = context.new_page()
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                if m.type == "error" and "status of" not in m.text else None)
        contexts.append(context)
        return page

    yield open_context
    for context in contexts:
        context.close()
    assert not problems, problems
