#!/usr/bin/env bash
# Loads what `make images` built (target/images) into the local podman or Docker image
# store as localhost/<name>:<tag>, the names `wasp compile --target compose|sidecar`
# uses by default. To push to a registry instead:
#   skopeo copy oci:target/images/<name> docker://<registry>/<name>:<tag>
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGES=${IMAGES_DIR:-target/images}
[ -f "$IMAGES/digests.txt" ] || { echo "load-images: run make images first" >&2; exit 1; }
while read -r name tag _digest; do
  case "$name" in wasp-filter-oci) continue ;; esac   # not a container image
  if command -v podman >/dev/null; then
    id=$(podman pull -q "oci:$IMAGES/$name")
    podman tag "$id" "localhost/$name:$tag"
  elif command -v skopeo >/dev/null; then
    skopeo copy --quiet "oci:$IMAGES/$name" "docker-daemon:localhost/$name:$tag"
  else
    echo "load-images: needs podman, or skopeo for Docker" >&2; exit 1
  fi
  echo "localhost/$name:$tag"
done < "$IMAGES/digests.txt"
