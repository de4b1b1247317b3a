"""Where Terraform and the AWS provider are on this machine (tests import it as ``terraform_support``).

The provider comes from a local filesystem mirror (``SFN_CALLBACK_TF_PLUGIN_DIR``, else ``/opt/tf-plugins``):
the Terraform registry is not reachable from an offline machine.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PROVIDER_GLOB = "registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws*"


def terraform_binary(allow_tofu: bool = True) -> str | None:
    return shutil.which("terraform") or (shutil.which("tofu") if allow_tofu else None)


def provider_mirror() -> str | None:
    for candidate in (os.environ.get("SFN_CALLBACK_TF_PLUGIN_DIR"), "/opt/tf-plugins"):
        if candidate and any(Path(candidate).glob(PROVIDER_GLOB)):
            return candidate
    return None


def cli_config(mirror: str) -> str:
    """A Terraform CLI configuration that installs providers from ``mirror`` only, never from the network."""
    return (
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["registry.terraform.io/hashicorp/aws"]\n  }}\n'
        '  direct {\n    exclude = ["*/*/*"]\n  }\n'
        "}\n"
    )


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
