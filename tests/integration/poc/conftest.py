"""The PoC stack deployed once per session on the shared local cloud (the second plan must be empty)."""

from __future__ import annotations

import pytest

from sfn_callback.config import Target
from sfn_callback.deploy.deployer import Deployer


@pytest.fixture(scope="session")
def deployed(local_cloud):
    target = Target(endpoint_url=local_cloud.endpoint_url)
    Deployer(target).apply()
    again = Deployer(target).plan()
    assert not again.has_changes, [c.to_dict() for c in again.changes if c.action != "unchanged"]
    return local_cloud
