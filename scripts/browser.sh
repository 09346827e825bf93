#!/usr/bin/env bash
# The dashboard test drives Debian's headless Chromium. Install it when missing and possible;
# otherwise say so: the browser test then skips itself with the same message.
set -u
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the dashboard browser test (Debian package)" >&2
  if timeout 600 sh -c 'apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null'; then
    exit 0
  fi
fi
echo "chromium is not installed and could not be installed here; the browser test will be skipped" >&2
exit 0
