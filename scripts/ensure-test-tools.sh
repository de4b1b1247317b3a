#!/bin/sh
# Tools the test suite needs outside the venv, from Debian's packages: chromium (the approval page's browser
# test, through Playwright's executable_path), awscli v2 (the seed scripts' calls; PyPI's awscli is v1 and
# rejects --cli-binary-format), and what seed 001's deploy script and the Node.js runtime use: zip, curl,
# node and npm. Idempotent: installs only what is missing, only as root; says what it did.
set -eu
updated=no

ensure() {  # ensure PACKAGE BINARY
    if [ -x "$2" ]; then
        echo "ensure-test-tools: $1 present ($("$2" --version 2>/dev/null | head -n 1 || echo "$2"))"
    elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "ensure-test-tools: installing $1 with apt-get"
        if [ "$updated" = no ]; then apt-get update -qq; updated=yes; fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1"
        echo "ensure-test-tools: installed $("$2" --version 2>/dev/null | head -n 1 || echo "$1")"
    else
        echo "ensure-test-tools: $2 missing and not root (or no apt-get): the tests that need it will say so"
    fi
}

ensure chromium /usr/bin/chromium
ensure awscli /usr/bin/aws
ensure zip /usr/bin/zip
ensure curl /usr/bin/curl
ensure nodejs /usr/bin/node
ensure npm /usr/bin/npm
