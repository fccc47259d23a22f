#!/usr/bin/env bash
# Headless Chromium and its WebDriver from the system's packages (Debian: chromium, chromium-driver), for the
# browser tests of `kinevid serve` (pytest -m web). Idempotent: nothing is fetched when both are installed.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver >/dev/null
