#!/usr/bin/env bash
# Install a real Mermaid renderer for tests/mermaid_render.rs: Debian's
# chromium and npm's @mermaid-js/mermaid-cli (mmdc), which is pointed at
# that chromium by scripts/puppeteer-config.json (puppeteer's own browser
# download is skipped: it cannot be fetched here). Needs root; idempotent.
set -euo pipefail
if ! command -v chromium >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v mmdc >/dev/null; then
  PUPPETEER_SKIP_DOWNLOAD=1 npm install -g --silent --no-fund --no-audit @mermaid-js/mermaid-cli
fi
chromium --version
mmdc --version
