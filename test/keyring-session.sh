#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with an unlocked gnome-keyring (the Secret
# Service that libsecret, and so keytar, talks to on Linux), then stops both:
#
#   bash test/keyring-session.sh node --import tsx --test src-main/secrets/keychain.test.ts
#
# Why it looks like this (each point was tried):
# - `dbus-run-session` gives the command its own session bus (DBUS_SESSION_BUS_ADDRESS) and
#   stops that bus when its child exits.
# - `gnome-keyring-daemon --unlock` reads the login keyring password on stdin and creates that
#   keyring when it does not exist. The password must NOT be empty: an empty one makes the daemon
#   ask gcr-prompter, which fails without a display, and every keytar call then fails with
#   "Object does not exist at path /org/freedesktop/secrets/collection/login".
# - The daemon runs with `--foreground` in the background so we know its pid: started the usual
#   (self-daemonizing) way it outlives a command that exits quickly, before it has attached to the
#   bus. We wait until it owns `org.freedesktop.secrets` on the bus, run the command, stop it.
# - The keyring lives in a throwaway folder (XDG_DATA_HOME / XDG_RUNTIME_DIR for the daemon only),
#   so nothing touches ~/.local/share/keyrings and every run starts empty; the command keeps the
#   caller's environment. The folder is removed afterwards.
# - REHOST_KEYRING_SESSION=1 tells keychain.test.ts that a keyring must answer here: a broken
#   recipe fails the test instead of quietly skipping it.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi
for tool in dbus-run-session dbus-send gnome-keyring-daemon; do
  command -v "$tool" >/dev/null || { echo "keyring-session: $tool not found (Debian: apt-get install dbus gnome-keyring)" >&2; exit 2; }
done

REHOST_KEYRING_DIR="$(mktemp -d "${TMPDIR:-/tmp}/rehost-keyring.XXXXXX")"
trap 'rm -rf "$REHOST_KEYRING_DIR"' EXIT
export REHOST_KEYRING_DIR

status=0
dbus-run-session -- sh -c '
  mkdir -m 700 "$REHOST_KEYRING_DIR/data" "$REHOST_KEYRING_DIR/run"
  printf %s rehost-throwaway-keyring \
    | XDG_DATA_HOME="$REHOST_KEYRING_DIR/data" XDG_RUNTIME_DIR="$REHOST_KEYRING_DIR/run" \
      gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null &
  daemon=$!
  trap "kill $daemon 2>/dev/null; wait $daemon 2>/dev/null" EXIT
  unset REHOST_KEYRING_DIR
  tries=0
  until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 100 ] || ! kill -0 "$daemon" 2>/dev/null; then
      echo "keyring-session: gnome-keyring-daemon did not come up on the session bus" >&2
      exit 1
    fi
    sleep 0.1
  done
  REHOST_KEYRING_SESSION=1 "$@"
' keyring-session "$@" || status=$?
exit "$status"
