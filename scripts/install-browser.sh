#!/usr/bin/env bash
# The console's end-to-end tests drive Debian's chromium through its chromedriver (selenium); nothing is
# downloaded at run time. Installs both, and a CJK font for the Chinese screenshots, with apt-get when
# missing (as root, or through passwordless sudo). Idempotent.
set -euo pipefail
packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium)
[ -x /usr/bin/chromedriver ] || packages+=(chromium-driver)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || packages+=(fonts-wqy-microhei)
[ ${#packages[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  run=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  run=(sudo -n)
else
  echo "The console's browser tests need: ${packages[*]}. Install them: sudo apt-get install -y ${packages[*]}" >&2
  exit 1
fi
command -v apt-get >/dev/null || { echo "apt-get not found: install ${packages[*]} yourself" >&2; exit 1; }
"${run[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${run[@]}" apt-get install -y -qq "${packages[@]}" >/dev/null
echo "Installed ${packages[*]}"
