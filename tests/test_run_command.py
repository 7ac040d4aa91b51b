"""The README's run command brings the whole system up on this machine."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, deadline: float) -> requests.Response:
    last_error = None
    while time.monotonic() < deadline:
        try:
            response = requests.get(url, timeout=2)
            if response.status_code < 500:
                return response
        except requests.RequestException as error:
            last_error = error
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in time: {last_error}")


def test_run_command_serves_admin_and_api_docs(tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        PORT=str(port),
        SIM_PORT=str(free_port()),
        CALLCENTER_VAR_DIR=str(tmp_path),
        DEMO_ADMIN_PASSWORD="demo-pass-123",
        WEB_WORKERS="1",
    )
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "run")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        login = wait_for(f"http://127.0.0.1:{port}/admin/login/", deadline)
        assert login.status_code == 200 and 'dir="rtl"' in login.text
        docs = wait_for(f"http://127.0.0.1:{port}/api/docs/", deadline)
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        schema = requests.get(f"http://127.0.0.1:{port}/api/schema/", timeout=5)
        assert schema.status_code == 200 and schema.text.startswith("openapi: 3")
        # Without TWILIO_ACCOUNT_SID the local Twilio simulator runs alongside.
        simulator = wait_for(f"http://127.0.0.1:{env['SIM_PORT']}/_sim/config", deadline)
        assert simulator.status_code == 200 and simulator.json()["account_sid"].startswith("AC")

        session = requests.Session()
        session.get(f"http://127.0.0.1:{port}/admin/login/", timeout=5)
        logged_in = session.post(
            f"http://127.0.0.1:{port}/admin/login/?next=/admin/",
            data={
                "username": "admin",
                "password": "demo-pass-123",
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
                "next": "/admin/",
            },
            timeout=5,
        )
        assert logged_in.status_code == 200 and "/admin/logout/" in logged_in.text
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            output = process.communicate(timeout=30)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output = process.communicate()[0].decode(errors="replace")
    assert "username: admin" in output and "password: demo-pass-123" in output
    assert "qcluster" in output.lower() or "q cluster" in output.lower()
