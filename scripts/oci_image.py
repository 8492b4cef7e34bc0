#!/usr/bin/env python3
"""Writes an OCI image layout (oci-layout, index.json, blobs/sha256/...) without a
container engine, byte-for-byte reproducible: the same inputs give the same digest
(tar entries sorted, owner 0, mtime 0, modes 0755/0644, gzip without a name or a time;
another zlib build may deflate differently, so digests match across machines with the
same Python and zlib).

  oci_image.py wasm-compat OUT --module plugin.wasm --tag T
      the Wasm image's compat variant (what Istio and Envoy Gateway pull): one
      tar+gzip layer holding plugin.wasm, annotated module.wasm.image/variant=compat
  oci_image.py wasm-oci OUT --module plugin.wasm --tag T
      the oci variant: a wasm config layer and the module as a content layer
  oci_image.py container OUT --tag T --file SRC:DEST ... --entrypoint ARG ...
      a FROM-scratch container image holding exactly those files (and the shared
      libraries the ELF ones load, found with ldd)

Prints the manifest digest (sha256:...), which is what a WasmPlugin's sha256 and an
image reference's @digest name.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import tarfile

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
WASM_CONFIG = "application/vnd.module.wasm.config.v1+json"
WASM_CONTENT = "application/vnd.module.wasm.content.layer.v1+wasm"
# uname -m -> the OCI platform's architecture.
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}


class Layout:
    def __init__(self, out):
        self.out = out
        self.blobs = os.path.join(out, "blobs", "sha256")
        os.makedirs(self.blobs, exist_ok=True)

    def blob(self, data, media_type):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.blobs, digest), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}

    def finish(self, manifest, tag):
        descriptor = self.blob(canonical(manifest), MANIFEST)
        descriptor["annotations"] = {"org.opencontainers.image.ref.name": tag}
        with open(os.path.join(self.out, "oci-layout"), "wb") as f:
            f.write(canonical({"imageLayoutVersion": "1.0.0"}))
        with open(os.path.join(self.out, "index.json"), "wb") as f:
            f.write(canonical({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [descriptor]}))
        return descriptor["digest"]


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def tar_of(entries):
    """entries: {path inside the image: (bytes or None for a directory, mode)}."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(entries):
            data, mode = entries[path]
            info = tarfile.TarInfo(path)
            info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "", "", mode
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def gzipped(data, level=9):
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=level) as f:
        f.write(data)
    return buffer.getvalue()


def with_parents(entries):
    for path in list(entries):
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            entries.setdefault("/".join(parts[:i]), (None, 0o755))
    return entries


def image(layout, files, entrypoint, tag, annotations=None):
    tar = tar_of(with_parents(files))
    # Programs of 100 MB (Envoy) compress in seconds at level 6; the module at 9.
    layer = layout.blob(gzipped(tar, 9 if len(tar) < 16 << 20 else 6), LAYER)
    config = {
        "architecture": ARCHITECTURES.get(platform.machine(), platform.machine()),
        "os": "linux",
        "config": {"Entrypoint": entrypoint, "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"]} if entrypoint else {},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": layout.blob(canonical(config), IMAGE_CONFIG),
        "layers": [layer],
    }
    if annotations:
        manifest["annotations"] = annotations
    return layout.finish(manifest, tag)


def shared_libraries(path):
    """What the dynamic loader maps for an ELF program (none for a static one)."""
    result = subprocess.run(["ldd", path], capture_output=True, text=True)
    libraries = []
    for line in result.stdout.splitlines():
        line = line.strip()
        if "not found" in line:
            sys.exit(f"{path}: ldd cannot find {line.split()[0]}; install it before building the image")
        target = line.split("=>")[-1].strip().split(" (")[0].strip()
        if target.startswith("/"):
            libraries.append(target)
    return libraries


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["wasm-compat", "wasm-oci", "container"])
    parser.add_argument("out")
    parser.add_argument("--tag", required=True)
    parser.add_argument("--module")
    parser.add_argument("--file", action="append", default=[], help="SRC:DEST (DEST absolute)")
    parser.add_argument("--entrypoint", action="append", default=[])
    args = parser.parse_args()
    layout = Layout(args.out)
    if args.kind in ("wasm-compat", "wasm-oci"):
        module = read(args.module)
        if module[:4] != b"\0asm":
            sys.exit(f"{args.module} is not a Wasm module (no \\0asm magic)")
        if args.kind == "wasm-compat":
            digest = image(layout, {"plugin.wasm": (module, 0o644)}, [], args.tag, {"module.wasm.image/variant": "compat"})
        else:
            config = layout.blob(canonical({"type": "envoy_proxy", "abiVersions": ["v0-4d76d29f3ba14fd8da1a39a2fd2c8ef40fd1cb4f"], "config": {"rootIds": ["wasp"]}}), WASM_CONFIG)
            content = layout.blob(module, WASM_CONTENT)
            digest = layout.finish({"schemaVersion": 2, "mediaType": MANIFEST, "config": config, "layers": [config, content]}, args.tag)
    else:
        files = {}
        for spec in args.file:
            source, dest = spec.split(":", 1)
            # 0755 or 0644 whatever the builder's umask, so the digest does not depend on it.
            executable = os.stat(source).st_mode & 0o111
            files[dest.lstrip("/")] = (read(source), 0o755 if executable else 0o644)
            for library in shared_libraries(source):
                files.setdefault(library.lstrip("/"), (read(library), 0o755))
        files["tmp"] = (None, 0o1777)
        digest = image(layout, files, args.entrypoint, args.tag)
    print(digest)


if __name__ == "__main__":
    main()
