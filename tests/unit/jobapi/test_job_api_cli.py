"""``sfn-callback job-api`` as a real subprocess: loopback only, a free port named on its first stdout line,
bearer keys from a file that is re-read when it changes, the key rotation endpoint."""

from __future__ import annotations

import json
import subprocess
import sys

import urllib3

KEY = "sk-test-0123456789abcdef"


def test_it_refuses_a_host_that_is_not_loopback():
    done = subprocess.run([sys.executable, "-m", "sfn_callback.cli.main", "job-api", "--host", "0.0.0.0",
                           "--port", "0"], capture_output=True, text=True, timeout=60,
                          env={"SFN_CALLBACK_JOB_API_KEYS": KEY, "PATH": ""})
    assert done.returncode == 2 and "loopback only" in done.stderr


def test_keys_from_a_file_reloaded_and_rotated(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(KEY + "\n")
    proc = subprocess.Popen([sys.executable, "-m", "sfn_callback.cli.main", "job-api", "--port", "0",
                             "--keys-file", str(keys)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = json.loads(proc.stdout.readline())["url"]
        assert url.startswith("http://127.0.0.1:")
        http = urllib3.PoolManager(retries=False)

        def call(method, path, key, body=None):
            r = http.request(method, url + path, body=json.dumps(body) if body is not None else None,
                             headers={"Authorization": f"Bearer {key}"})
            return r.status, json.loads(r.data) if r.data else None

        assert call("GET", "/health", "")[0] == 200
        assert call("POST", "/jobs", "wrong", {})[0] == 401
        status, job = call("POST", "/jobs", KEY, {"completeAfterChecks": 1})
        assert status == 201 and job["state"] == "queued"
        assert call("POST", "/jobs", KEY, {"answers": ["418"]})[0] == 422
        other = "sk-other-0123456789abcdef"
        keys.write_text(other + "\n")  # the file changed: re-read at the next request
        assert call("GET", f"/jobs/{job['id']}", KEY)[0] == 401
        status, answer = call("GET", f"/jobs/{job['id']}", other)
        assert status == 200 and answer["state"] == "succeeded"
        rotated = "sk-rotated-0123456789abcdef"
        assert call("PUT", "/keys", other, {"keys": [rotated]}) == (200, {"keys": 1})
        assert keys.read_text().strip() == rotated and call("GET", "/health", "")[0] == 200
        status, served = call("GET", f"/jobs/{job['id']}/served", rotated)
        assert status == 200 and served["served"]["real"] == 1 and served["served"]["unauthorized"] == 1
        assert call("GET", "/jobs/j-none", rotated)[0] == 404
    finally:
        proc.terminate()
        proc.wait(10)
