#!/bin/sh
# Dev Container Feature "bot-bottle": installs the release named by the
# "version" option at /usr/local/bin/bot-bottle with bot-bottle's installer,
# which ships beside this file (bot-bottle-install.sh: the repository's
# install.sh, kept identical by a test), since a Feature's build context is
# its own folder.
#
# The devcontainer tooling runs this as root, in this folder, with the options
# as upper-cased environment variables: VERSION and DOWNLOADURL.
# BOT_BOTTLE_DOWNLOAD_URL, when set, is honoured as by the installer; the
# tests set BOT_BOTTLE_INSTALL_DIR to install elsewhere than /usr/local/bin.
set -eu

case $0 in
  */*) here=${0%/*} ;;
  *) here=. ;;
esac

if [ -n "${DOWNLOADURL:-}" ]; then
  BOT_BOTTLE_DOWNLOAD_URL=$DOWNLOADURL
  export BOT_BOTTLE_DOWNLOAD_URL
fi
if [ -z "${VERSION:-}" ]; then
  echo 'bot-bottle install: error: the Feature'"'"'s "version" option is empty; set it in devcontainer.json among the Feature'"'"'s options, e.g. { "version": "0.1.0" }' >&2
  exit 1
fi

# The installer needs curl or wget: an image with neither (debian, ubuntu)
# gets curl from apt. apt's package lists are removed again only if this
# fetched them, as a Dockerfile would.
if ! command -v curl >/dev/null 2>&1 && ! command -v wget >/dev/null 2>&1 &&
  command -v apt-get >/dev/null 2>&1; then
  echo "bot-bottle feature: installing curl and ca-certificates with apt-get"
  had_lists=false
  for list in /var/lib/apt/lists/*_Packages*; do
    if [ -e "$list" ]; then had_lists=true; fi
    break
  done
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null
  apt-get install -y -qq --no-install-recommends curl ca-certificates </dev/null >/dev/null
  if [ "$had_lists" = false ]; then rm -rf /var/lib/apt/lists/*; fi
fi

exec sh "$here/bot-bottle-install.sh" --version "$VERSION" --dir "${BOT_BOTTLE_INSTALL_DIR:-/usr/local/bin}"
