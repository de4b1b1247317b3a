#!/bin/sh
# Tools the test suite needs outside the venv: Debian's chromium (driven by Playwright's executable_path).
# Idempotent: installs only what is missing, only as root; says what it did.
set -eu
if [ -x /usr/bin/chromium ]; then
    echo "ensure-test-tools: chromium present ($(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium))"
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-test-tools: installing chromium with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
    echo "ensure-test-tools: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
else
    echo "ensure-test-tools: chromium missing and not root (or no apt-get): browser tests will be skipped"
fi

# AWS CLI v2 (Debian's awscli 2.x) for the seed-compatibility tests; PyPI's awscli is v1 and rejects
# --cli-binary-format. Independent of the block above.
if [ -x /usr/bin/aws ]; then
    echo "ensure-test-tools: awscli present ($(/usr/bin/aws --version 2>/dev/null || echo /usr/bin/aws))"
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-test-tools: installing awscli with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq awscli
    echo "ensure-test-tools: installed $(/usr/bin/aws --version 2>/dev/null || echo awscli)"
else
    echo "ensure-test-tools: /usr/bin/aws missing and not root (or no apt-get): the seed AWS CLI test will fail"
fi
