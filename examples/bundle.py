"""What the examples share to deploy themselves with the project's deploy spec: a Lambda zip of ``sfn_callback``
and the example's own package, and applying a stack of its own (nothing of another stack is touched)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

from sfn_callback.config import Target
from sfn_callback.deploy import packaging
from sfn_callback.deploy.deployer import ApplyResult, Deployer, Drivers, context_for
from sfn_callback.deploy.spec import Stack, StackContext


def bundle(package_dir: Path) -> bytes:
    """The zip: the ``sfn_callback`` package and ``package_dir``'s modules as the package ``<its name>``."""
    entries = packaging.source_files(packaging.package_root())
    entries += [(f"{package_dir.name}/{p.name}", p) for p in sorted(package_dir.glob("*.py"))]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arcname, path in sorted(entries):
            info = zipfile.ZipInfo(arcname, date_time=packaging.FIXED_TIME)
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def apply(target: Target, stack_name: str, build: Callable[[StackContext], Stack], package_dir: Path) -> ApplyResult:
    ctx = context_for(target, stack_name=stack_name)
    deployer = Deployer(target, build(ctx), Drivers(target, ctx, bundle(package_dir)))
    return deployer.apply(deployer.plan(detect_deletes=False))
