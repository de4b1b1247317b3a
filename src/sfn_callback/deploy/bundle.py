"""``sfn-callback package``: the Lambda zip for AWS (project code plus its runtime dependencies) and the
Terraform manifest (for AWS, or with ``--target local`` for the local cloud), written to ``build/``.

* Which dependencies: the third-party imports reachable from the stack's handler modules (a static scan of
  the import statements, function-level imports included), mapped to their distributions, then those
  distributions' requirements for Python 3.11 on Linux x86_64, each pinned to the version installed here.
  boto3, botocore and s3transfer are left out (the Lambda runtime provides them) and so is anything only
  they need.
* How: ``pip install --no-deps --platform manylinux2014_x86_64 --implementation cp --python-version 3.11
  --only-binary=:all: --target`` into a cache directory keyed by the pinned list, reused while it is
  unchanged.
* Reproducible: entries sorted, timestamps fixed (1980-01-01), permissions fixed (0644), no ``__pycache__``
  or ``*.pyc``; the same source and the same pins give the same bytes.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from sfn_callback.deploy import packaging
from sfn_callback.deploy.manifest import build_manifest, terraform_context
from sfn_callback.deploy.spec import Function, Stack
from sfn_callback.deploy.stack import build_stack

PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore", "s3transfer"})
PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.11",
            "--only-binary=:all:")
MARKER_ENV = {"python_version": "3.11", "python_full_version": "3.11.0", "sys_platform": "linux",
              "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
              "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}
PACKAGE = "sfn_callback"


class PackageError(RuntimeError):
    """The Lambda bundle cannot be built."""


# ------------------------------------------------------------------------------------ import scan
def _module_path(root: Path, module: str) -> Path | None:
    """The file of ``sfn_callback.x.y`` under ``root`` (the package folder), or None."""
    parts = module.split(".")[1:]
    base = root.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _imports(path: Path, module: str) -> set[str]:
    """Absolute module names imported anywhere in the file (``from a import b`` yields ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def import_closure(modules: list[str], root: Path | None = None) -> tuple[set[str], set[str]]:
    """(project modules reached, top-level third-party module names reached) from ``modules``."""
    root = root or packaging.package_root()
    seen: set[str] = set()
    external: set[str] = set()
    todo = list(modules)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = _module_path(root, module)
        if path is None:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run first
        for name in _imports(path, module):
            top = name.split(".")[0]
            if top == PACKAGE:
                todo.append(name)
            elif top and top != "__future__" and top not in sys.stdlib_module_names:
                external.add(top)
    return seen, external


def handler_modules(stack: Stack) -> list[str]:
    return sorted({r.handler.rpartition(".")[0] for r in stack.resources if isinstance(r, Function)})


# --------------------------------------------------------------------------------- requirements
def _distributions_of(top_level: set[str]) -> set[str]:
    mapping = metadata.packages_distributions()
    dists: set[str] = set()
    for name in sorted(top_level):
        if name not in mapping:
            raise PackageError(f"the handlers import {name!r}, which no installed distribution provides")
        dists.update(canonicalize_name(d) for d in mapping[name])
    return dists


def pinned_requirements(top_level: set[str]) -> list[str]:
    """``name==version`` for the distributions behind ``top_level`` and everything they need on Lambda."""
    pins: dict[str, str] = {}
    todo = sorted(_distributions_of(top_level) - PROVIDED_BY_RUNTIME)
    while todo:
        name = todo.pop()
        if name in pins or name in PROVIDED_BY_RUNTIME:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise PackageError(f"{name} is needed in the Lambda bundle but is not installed here") from None
        pins[name] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate(MARKER_ENV):
                continue
            todo.append(canonicalize_name(req.name))
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def lambda_requirements(stack: Stack | None = None) -> list[str]:
    stack = stack or build_stack(terraform_context())
    _, external = import_closure(handler_modules(stack))
    return pinned_requirements(external)


# ------------------------------------------------------------------------------- install and zip
def install_dependencies(requirements: list[str], cache_dir: Path) -> Path:
    """The requirements installed for the Lambda platform, in ``cache_dir/<hash of the list>`` (reused)."""
    key = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:16]
    target = cache_dir / f"deps-{key}"
    done = target / ".complete"
    if done.is_file():
        return target
    staging = cache_dir / f".staging-{key}-{os.getpid()}"
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
           "--disable-pip-version-check", *PLATFORM, "--target", str(staging), *requirements]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PackageError(f"pip could not install the Lambda dependencies:\n{proc.stderr.strip()[-2000:]}")
    (staging / ".complete").write_text("\n".join(requirements) + "\n")
    try:
        staging.rename(target)
    except OSError:  # another build finished the same set first
        pass
    return target


def dependency_files(deps_dir: Path) -> list[tuple[str, Path]]:
    """(archive name, path) of every installed file, sorted; caches, scripts and the runtime's SDK left out."""
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(deps_dir):
        rel = Path(dirpath).relative_to(deps_dir)
        dirnames[:] = sorted(
            d for d in dirnames
            if d != "__pycache__" and not (rel == Path(".") and (d == "bin" or _runtime_provided(d)))
        )
        for name in filenames:
            if name.endswith((".pyc", ".pyo")) or (rel == Path(".") and name.startswith(".")):
                continue
            path = Path(dirpath) / name
            out.append(((rel / name).as_posix(), path))
    return sorted(out)


def _runtime_provided(dirname: str) -> bool:
    base = dirname.split("-")[0].lower()
    return base in PROVIDED_BY_RUNTIME


def build_bundle(deps_dir: Path | None, source_root: Path | None = None) -> bytes:
    """The zip: the ``sfn_callback`` package and, when given, the installed dependencies at the zip root."""
    entries = packaging.source_files(source_root or packaging.package_root())
    if deps_dir is not None:
        entries = entries + dependency_files(deps_dir)
    names = [name for name, _ in entries]
    if len(names) != len(set(names)):
        raise PackageError("a dependency installs files over the project's own package")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arcname, path in sorted(entries):
            info = zipfile.ZipInfo(arcname, date_time=packaging.FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    return buf.getvalue()


@dataclass
class PackageResult:
    zip_path: Path
    manifest_path: Path
    requirements: list[str]
    code_sha256: str
    size: int
    target: str = "aws"

    def to_dict(self) -> dict[str, object]:
        return {"zip": str(self.zip_path), "manifest": str(self.manifest_path), "requirements": self.requirements,
                "codeSha256": self.code_sha256, "bytes": self.size, "target": self.target}


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "sfn-callback" / "lambda-deps"


def package(out: Path, cache_dir: Path | None = None, with_dependencies: bool = True,
            target: str = "aws") -> PackageResult:
    """Write ``out/lambda.zip``, ``out/stack.json`` (the stack for ``target``, ``aws`` or ``local``) and
    ``out/requirements.txt``."""
    stack = build_stack(terraform_context(target=target))
    requirements = lambda_requirements(stack) if with_dependencies else []
    deps = install_dependencies(requirements, cache_dir or default_cache_dir()) if requirements else None
    data = build_bundle(deps)
    out.mkdir(parents=True, exist_ok=True)
    zip_path, manifest_path = out / "lambda.zip", out / "stack.json"
    zip_path.write_bytes(data)
    manifest = build_manifest(stack)
    manifest["lambda_zip"] = {"file": zip_path.name, "code_sha256": packaging.code_sha256(data),
                              "requirements": requirements}
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (out / "requirements.txt").write_text("".join(r + "\n" for r in requirements))
    return PackageResult(zip_path, manifest_path, requirements, packaging.code_sha256(data), len(data), target)
