"""The Lambda code zip: the ``sfn_callback`` package source, built deterministically.

Entries are sorted, timestamps fixed (1980-01-01), permissions fixed, ``__pycache__``/``*.pyc`` and tests
left out, so the same source gives the same bytes and the same CodeSha256 (an unchanged function is not
re-uploaded). Dependencies are not bundled: the local cloud's executor runs the zip with the environment's
site-packages importable.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
EXCLUDED_DIRS = {"__pycache__", "tests", ".pytest_cache"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


def package_root() -> Path:
    import sfn_callback

    return Path(sfn_callback.__file__).resolve().parent


def source_files(root: Path) -> list[tuple[str, Path]]:
    """(archive name, path) for every file under ``root``, sorted; the archive keeps the package folder."""
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in EXCLUDED_DIRS and not d.startswith("."))
        for name in filenames:
            if name.endswith(EXCLUDED_SUFFIXES) or name.startswith("."):
                continue
            path = Path(dirpath) / name
            arcname = Path(root.name) / path.relative_to(root)
            out.append((arcname.as_posix(), path))
    return sorted(out)


def build_zip(root: Path | None = None) -> bytes:
    root = root or package_root()
    return zip_files({arcname: path.read_bytes() for arcname, path in source_files(root)})


def zip_files(files: Mapping[str, str | bytes]) -> bytes:
    """A deterministic zip of ``{archive name: content}``: sorted entries, fixed timestamps and permissions."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arcname in sorted(files):
            info = zipfile.ZipInfo(arcname, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[arcname], compresslevel=9)
    return buf.getvalue()


def code_sha256(zip_bytes: bytes) -> str:
    """Lambda's CodeSha256: base64 of the SHA-256 of the zip."""
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()
