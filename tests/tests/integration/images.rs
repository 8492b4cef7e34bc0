//! `make images` (scripts/build-images.sh): every image the deploy targets name, built
//! without a container engine. The same inputs give the same digests; the Wasm image's
//! compat and oci variants hold exactly the module, as Istio's and Envoy Gateway's
//! fetchers extract it; container images carry their entrypoint.

use wasp_tests::oci::{
    blob, build_images, fetch_module, manifest, scratch_dir, shared_images, COMPAT_LAYER,
    WASM_CONTENT,
};
use wasp_tests::Tools;

#[test]
fn images_are_reproducible_and_hold_what_fetchers_extract() {
    let images = shared_images();
    let (dir, built) = (&images.dir, &images.built);
    let names: Vec<&str> = built.iter().map(|image| image.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "wasp-filter",
            "wasp-filter-oci",
            "wasp-control",
            "wasp",
            "wasp-hello-backend",
            "wasp-envoy"
        ]
    );
    let again = build_images(&scratch_dir("again"));
    assert_eq!(&again, built, "the same inputs must give the same digests");

    let module = std::fs::read(Tools::from_env().wasm).expect("the module");
    for variant in ["wasp-filter", "wasp-filter-oci"] {
        let layout = dir.join(variant);
        let fetched = fetch_module(&layout);
        assert!(fetched.starts_with(b"\0asm"), "{variant}: Wasm magic");
        assert!(
            fetched == module,
            "{variant}: the fetched module is the built one"
        );
        let (digest, _) = manifest(&layout);
        let listed = &built.iter().find(|i| i.name == variant).unwrap().digest;
        assert_eq!(&digest, listed, "digests.txt names the manifest digest");
    }
    let (_, compat) = manifest(&dir.join("wasp-filter"));
    assert_eq!(
        compat["layers"].as_array().unwrap().len(),
        1,
        "compat: exactly one layer"
    );
    assert_eq!(compat["layers"][0]["mediaType"], COMPAT_LAYER);
    assert_eq!(compat["annotations"]["module.wasm.image/variant"], "compat");
    let (_, oci) = manifest(&dir.join("wasp-filter-oci"));
    assert_eq!(
        oci["config"]["mediaType"],
        "application/vnd.module.wasm.config.v1+json"
    );
    assert_eq!(oci["layers"].as_array().unwrap().len(), 2);
    assert_eq!(oci["layers"][1]["mediaType"], WASM_CONTENT);

    let (_, control) = manifest(&dir.join("wasp-control"));
    let config: serde_json::Value = serde_json::from_slice(&blob(
        &dir.join("wasp-control"),
        control["config"]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    assert_eq!(config["config"]["Entrypoint"][0], "/usr/bin/wasp-control");
    assert_eq!(config["os"], "linux");
}
