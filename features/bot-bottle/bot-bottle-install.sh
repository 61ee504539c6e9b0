#!/bin/sh
# Installs a bot-bottle release: downloads the binary built for this machine
# and the release's SHA256SUMS, checks the binary's SHA-256, and puts it at
# DIR/bot-bottle in one rename.
#
# docs/install.md shows the one-line install (curl … | sh -s -- --version X.Y.Z);
# "sh install.sh --help" lists the options; docs/install.md has the details.
# POSIX sh only (dash, busybox sh, macOS sh). features/bot-bottle/ ships a
# copy of this file as bot-bottle-install.sh; a test keeps the two identical.
#
# Everything happens in main, called on the last line, so that a download of
# this script cut short runs nothing.

PROG="bot-bottle install"
# The project's home. release.json is where it is written: these two marked
# lines must say the same (tests/home_test.ts checks them); a fork or a mirror
# changes release.json and these lines, see docs/install.md.
REPOSITORY=https://github.com/bot-bottle/bot-bottle # release.json "repository"
DEFAULT_DOWNLOAD_URL=https://github.com/bot-bottle/bot-bottle/releases/download # release.json "downloadUrl"
RELEASES=$REPOSITORY/releases
ISSUES=$REPOSITORY/issues

usage() {
  cat <<EOF
usage: sh install.sh --version X.Y.Z [--dir DIR]

Installs bot-bottle X.Y.Z: downloads the release binary for this machine and
the release's SHA256SUMS, checks the binary's SHA-256, and installs it as
DIR/bot-bottle (replacing an older one in one step).

options:
  --version X.Y.Z  the release to install, e.g. 0.1.0 (or 0.2.0-rc.1)
  --dir DIR        where to install; created if missing
                   (default: /usr/local/bin for root, else \$HOME/.local/bin)
  -h, --help       show this help

environment:
  BOT_BOTTLE_VERSION       the release, when --version is not given
  BOT_BOTTLE_INSTALL_DIR   the directory, when --dir is not given
  BOT_BOTTLE_DOWNLOAD_URL  where releases are downloaded from (default:
                           $DEFAULT_DOWNLOAD_URL);
                           a mirror must serve URL/vX.Y.Z/<asset> and
                           URL/vX.Y.Z/SHA256SUMS, as GitHub releases do

Releases: $RELEASES
EOF
}

# One line on stderr (a value's newlines shown as spaces), then exit: status 2
# for a usage error, else 1.
die() {
  printf '%s: error: %s\n' "$PROG" "$(printf '%s' "$1" | tr '\n' ' ')" >&2
  exit "${2:-1}"
}

say() {
  printf '%s: %s\n' "$PROG" "$1"
}

usage_error() {
  die "$1; run \"sh install.sh --help\" for usage" 2
}

tmp_dir=
tmp_bin=

cleanup() {
  if [ -n "$tmp_bin" ]; then rm -f "$tmp_bin"; fi
  if [ -n "$tmp_dir" ]; then rm -rf "$tmp_dir"; fi
}

# The last non-empty line a command wrote to $1 (curl's or wget's reason).
last_line() {
  grep . "$1" 2>/dev/null | tail -n 1
}

# download URL FILE: with curl, else wget; the reason of a failure is left in
# $tmp_dir/download.log.
download() {
  if [ "$downloader" = curl ]; then
    curl --fail --silent --show-error --location --retry 2 --connect-timeout 30 \
      --output "$2" "$1" </dev/null 2>"$tmp_dir/download.log"
  else
    # No -T: busybox 1.35's wget crashes with it.
    wget -O "$2" "$1" </dev/null 2>"$tmp_dir/download.log"
  fi
}

# fetch NAME: downloads $base/v$version/NAME into $tmp_dir/NAME, or dies
# saying what to check.
fetch() {
  url=$base/v$version/$1
  if ! download "$url" "$tmp_dir/$1"; then
    reason=$(last_line "$tmp_dir/download.log")
    die "could not download $url (${reason:-$downloader failed}); nothing was installed; $where_hint"
  fi
}

sha256() {
  if [ "$sha_tool" = sha256sum ]; then
    sha256sum "$1" </dev/null | awk '{ print $1 }'
  else
    shasum -a 256 "$1" </dev/null | awk '{ print $1 }'
  fi
}

main() {
  set -eu
  trap cleanup EXIT
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 143' TERM

  version=${BOT_BOTTLE_VERSION:-}
  dir=${BOT_BOTTLE_INSTALL_DIR:-}
  while [ $# -gt 0 ]; do
    case $1 in
      -h | --help)
        usage
        exit 0
        ;;
      --version)
        [ $# -ge 2 ] || usage_error "--version needs a value, e.g. --version 0.1.0"
        version=$2
        shift 2
        ;;
      --version=*)
        version=${1#--version=}
        shift
        ;;
      --dir)
        [ $# -ge 2 ] || usage_error "--dir needs a directory"
        dir=$2
        shift 2
        ;;
      --dir=*)
        dir=${1#--dir=}
        shift
        ;;
      *) usage_error "unknown argument \"$1\"" ;;
    esac
  done

  if [ -z "$version" ]; then
    die "no version given: pass --version X.Y.Z (e.g. --version 0.1.0) or set BOT_BOTTLE_VERSION; releases are listed at $RELEASES" 2
  fi
  case $version in
    *[!0-9A-Za-z.-]*) valid=false ;;
    *) if printf '%s\n' "$version" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$'; then valid=true; else valid=false; fi ;;
  esac
  if [ "$valid" = false ]; then
    die "version \"$version\" is not a release version X.Y.Z (e.g. 0.1.0 or 0.2.0-rc.1); pick one at $RELEASES" 2
  fi

  os=$(uname -s)
  arch=$(uname -m)
  case $os in
    Linux) target_os=unknown-linux-gnu ;;
    Darwin) target_os=apple-darwin ;;
    *) target_os= ;;
  esac
  case $arch in
    x86_64 | amd64) target_arch=x86_64 ;;
    aarch64 | arm64) target_arch=aarch64 ;;
    *) target_arch= ;;
  esac
  if [ -z "$target_os" ] || [ -z "$target_arch" ]; then
    die "no bot-bottle release is built for $os $arch (only for Linux and macOS on x86_64 or arm64); nothing was installed; elsewhere, run bot-bottle from a source checkout with Deno: deno run -A main.ts"
  fi
  asset=bot-bottle-$target_arch-$target_os

  if command -v curl >/dev/null 2>&1; then
    downloader=curl
  elif command -v wget >/dev/null 2>&1; then
    downloader=wget
  else
    die "neither curl nor wget is installed; install one of them (e.g. apt-get install curl) and run the installer again"
  fi
  if command -v sha256sum >/dev/null 2>&1; then
    sha_tool=sha256sum
  elif command -v shasum >/dev/null 2>&1; then
    sha_tool=shasum
  else
    die "neither sha256sum nor shasum is installed, so the download cannot be checked; install coreutils and run the installer again"
  fi

  if [ -z "$dir" ]; then
    if [ "$(id -u)" = 0 ]; then
      dir=/usr/local/bin
    elif [ -n "${HOME:-}" ]; then
      dir=$HOME/.local/bin
    else
      die "HOME is not set, so there is no default install directory; pass --dir DIR" 2
    fi
  fi
  if [ -e "$dir" ] && [ ! -d "$dir" ]; then
    die "$dir is not a directory; pass --dir with a directory to install into"
  fi
  if [ -d "$dir/bot-bottle" ]; then
    die "$dir/bot-bottle is a directory; remove it or pass another --dir"
  fi
  if [ -d "$dir" ] && [ ! -w "$dir" ]; then
    die "cannot write to $dir; run the installer as root (e.g. | sudo sh -s -- ...) or pass --dir with a directory you own, e.g. --dir \$HOME/.local/bin"
  fi

  base=${BOT_BOTTLE_DOWNLOAD_URL:-$DEFAULT_DOWNLOAD_URL}
  base=${base%/}
  if [ -n "${BOT_BOTTLE_DOWNLOAD_URL:-}" ]; then
    where_hint="check that the mirror BOT_BOTTLE_DOWNLOAD_URL=$base is reachable and serves release v$version as $base/v$version/<file>"
  else
    host=${base#*://}
    host=${host%%/*}
    where_hint="check that this machine can reach $host and that release v$version exists at $RELEASES"
  fi

  tmp_dir=$(mktemp -d "${TMPDIR:-/tmp}/bot-bottle-install.XXXXXX") ||
    die "cannot create a temporary directory in ${TMPDIR:-/tmp}; set TMPDIR to a writable directory"

  say "downloading bot-bottle $version ($asset) from $base/v$version/"
  fetch SHA256SUMS
  expected=$(tr -d '\r' <"$tmp_dir/SHA256SUMS" |
    awk -v f="$asset" '$2 == f || $2 == "*" f { print $1; exit }')
  case $expected in
    "" | *[!0-9a-fA-F]*) expected= ;;
  esac
  if [ ${#expected} -ne 64 ]; then
    die "$base/v$version/SHA256SUMS lists no SHA-256 for $asset, so it cannot be checked; nothing was installed; the release looks incomplete: try another version or report it at $ISSUES"
  fi
  fetch "$asset"

  actual=$(sha256 "$tmp_dir/$asset")
  expected=$(printf '%s' "$expected" | tr 'A-F' 'a-f')
  if [ "$actual" != "$expected" ]; then
    die "checksum mismatch for $base/v$version/$asset: SHA256SUMS says $expected, the download is $actual; nothing was installed; the download is damaged or was altered: run the installer again, and if it fails the same way report it at $ISSUES"
  fi
  say "checksum ok: sha256 $actual"

  mkdir -p "$dir" 2>"$tmp_dir/mkdir.log" ||
    die "cannot create $dir ($(last_line "$tmp_dir/mkdir.log")); run the installer as root or pass --dir with a directory you own"
  dir=$(CDPATH='' cd -- "$dir" && pwd)
  tmp_bin=$(mktemp "$dir/.bot-bottle.XXXXXX" 2>/dev/null) ||
    die "cannot write to $dir; run the installer as root or pass --dir with a directory you own"
  cp "$tmp_dir/$asset" "$tmp_bin"
  chmod 755 "$tmp_bin"

  # Run it before it replaces anything: a binary that cannot run here (a musl
  # system, a broken mirror) leaves the old one in place.
  if ! reported=$("$tmp_bin" --version </dev/null 2>&1); then
    die "the downloaded bot-bottle does not run on this machine ($(printf '%s\n' "$reported" | head -n 1)); nothing was installed; the Linux builds need glibc, so on musl systems such as Alpine run bot-bottle from a source checkout"
  fi
  reported=$(printf '%s\n' "$reported" | head -n 1)
  case $reported in
    "bot-bottle $version" | "bot-bottle $version "*) ;;
    *) die "the downloaded binary reports \"$reported\", not bot-bottle $version; nothing was installed; the release or mirror is inconsistent: report it at $ISSUES" ;;
  esac

  mv -f "$tmp_bin" "$dir/bot-bottle"
  tmp_bin=
  say "installed $dir/bot-bottle: $("$dir/bot-bottle" --version </dev/null 2>&1 | head -n 1)"
  case ":${PATH:-}:" in
    *":$dir:"*) ;;
    *) say "note: $dir is not on your PATH; add it, e.g. in ~/.profile: export PATH=\"$dir:\$PATH\"" ;;
  esac
}

main "$@"
