"""What the job-API unit tests share: the reference service's bearer key and a Secrets Manager client that
answers it (the adapter reads its auth secret through ``SecretReader``)."""

from __future__ import annotations

KEY = "key-1-0123456789abcdef"


class Secrets:
    """A Secrets Manager client whose every secret is :data:`KEY`."""

    def get_secret_value(self, SecretId):  # noqa: N803 - boto3's name
        return {"SecretString": KEY}
