#!/usr/bin/env bash
# Make a local Home Assistant add-on from this checkout: DEST/sungate/ with the add-on files
# and source.tar (the committed tree, `git archive HEAD`), so the Supervisor builds the add-on
# from this source without fetching anything. Copy DEST/sungate to the /addons share of the
# Home Assistant host, then Settings -> Add-ons -> Add-on store -> ⋮ -> Check for updates:
# "sungate" appears under Local add-ons.
#
#   ha-addon/make-local.sh /tmp/addon      then e.g. scp -r /tmp/addon/sungate root@homeassistant:/addons/
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
dest=${1:?usage: ha-addon/make-local.sh DEST}
mkdir -p "$dest"
rm -rf "$dest/sungate"
cp -r "$here/sungate" "$dest/sungate"
git -C "$repo" archive --format=tar HEAD >"$dest/sungate/source.tar"
echo "add-on in $dest/sungate ($(du -h "$dest/sungate/source.tar" | cut -f1) of source)"
