//! Builds the project's images (`scripts/build-images.sh`) and reads an OCI image
//! layout the way the Wasm fetchers of Istio and Envoy Gateway read a pulled image:
//! index -> manifest -> the last layer, gunzipped and untarred, `plugin.wasm` by
//! basename (compat variant), or the module content layer (oci variant).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::tools::repo_root;

pub const COMPAT_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const WASM_CONTENT: &str = "application/vnd.module.wasm.content.layer.v1+wasm";

/// One line of `digests.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    pub name: String,
    pub tag: String,
    pub digest: String,
}

/// The images of one build and where their layouts are.
pub struct Images {
    pub dir: PathBuf,
    pub built: Vec<BuiltImage>,
}

impl Images {
    /// `localhost/<name>:<tag>`, as `scripts/load-images.sh` names it.
    pub fn reference(&self, name: &str) -> String {
        let image = self
            .built
            .iter()
            .find(|i| i.name == name)
            .expect("a built image");
        format!("localhost/{name}:{}", image.tag)
    }
}

/// Every image built into `dir`, in `digests.txt` order.
pub fn build_images(dir: &Path) -> Vec<BuiltImage> {
    let output = Command::new(repo_root().join("scripts/build-images.sh"))
        .env("IMAGES_DIR", dir)
        .output()
        .expect("run scripts/build-images.sh");
    assert!(
        output.status.success(),
        "build-images.sh failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read_to_string(dir.join("digests.txt"))
        .expect("digests.txt")
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(fields.len(), 3, "a digests.txt line: {line}");
            BuiltImage {
                name: fields[0].into(),
                tag: fields[1].into(),
                digest: fields[2].into(),
            }
        })
        .collect()
}

pub fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    let bytes = std::fs::read(layout.join("blobs/sha256").join(hex)).expect("a blob");
    assert_eq!(
        crate::echo::sha256_hex(&bytes),
        hex,
        "a blob's name is its digest"
    );
    bytes
}

/// The layout's one manifest and its digest.
pub fn manifest(layout: &Path) -> (String, Value) {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("index.json is JSON");
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .expect("a manifest digest")
        .to_string();
    let manifest = serde_json::from_slice(&blob(layout, &digest)).expect("a JSON manifest");
    (digest, manifest)
}

/// The module as a fetcher extracts it.
pub fn fetch_module(layout: &Path) -> Vec<u8> {
    let (_, manifest) = manifest(layout);
    let layers = manifest["layers"].as_array().expect("layers");
    let last = layers.last().expect("a layer");
    let bytes = blob(layout, last["digest"].as_str().expect("a digest"));
    match last["mediaType"].as_str() {
        Some(COMPAT_LAYER) => {
            let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
            for entry in archive.entries().expect("a tar layer") {
                let mut entry = entry.expect("a tar entry");
                let path = entry.path().expect("a path").into_owned();
                if path.file_name().is_some_and(|n| n == "plugin.wasm") {
                    let mut module = Vec::new();
                    entry.read_to_end(&mut module).expect("read plugin.wasm");
                    return module;
                }
            }
            panic!("no plugin.wasm in the layer");
        }
        Some(WASM_CONTENT) => bytes,
        other => panic!("a layer of media type {other:?} holds no module"),
    }
}

/// The images built once per test run, into `target/test-images/shared`.
pub fn shared_images() -> &'static Images {
    static IMAGES: std::sync::OnceLock<Images> = std::sync::OnceLock::new();
    IMAGES.get_or_init(|| {
        let dir = repo_root().join("target/test-images/shared");
        let built = build_images(&dir);
        Images { dir, built }
    })
}

/// A fresh directory under `target/test-images`.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = repo_root().join("target/test-images").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
