//! Containers for real: images loaded into podman from their OCI layouts, and a compose
//! stack brought up with podman-compose and taken down (volumes too) when dropped.
//! `scripts/ensure-podman.sh` installs both and the process limits runc needs here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::oci::Images;
use crate::tools::Tools;

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("run podman");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Loads the image layout at `layout` as `reference` (`localhost/name:tag`).
pub fn load(layout: &Path, reference: &str) {
    let pulled = run(Command::new("podman")
        .args(["pull", "-q"])
        .arg(format!("oci:{}", layout.display())));
    let id = String::from_utf8_lossy(&pulled.stdout).trim().to_string();
    run(Command::new("podman").args(["tag", &id, reference]));
}

/// Loads each named image of `images` as `localhost/<name>:<tag>`.
pub fn load_images(images: &Images, names: &[&str]) {
    for name in names {
        load(&images.dir.join(name), &images.reference(name));
    }
}

/// A running compose project.
pub struct ComposeStack {
    file: PathBuf,
    project: String,
}

fn podman_compose() -> PathBuf {
    Tools::from_env()
        .envoy
        .parent()
        .expect("the venv's bin")
        .join("podman-compose")
}

impl ComposeStack {
    /// `podman-compose -f file up -d`; `project` is the file's `name:`.
    pub fn up(file: &Path, project: &str) -> ComposeStack {
        let stack = ComposeStack {
            file: file.to_path_buf(),
            project: project.to_string(),
        };
        run(Command::new(podman_compose())
            .arg("-f")
            .arg(file)
            .args(["up", "-d"]));
        stack
    }

    /// `podman exec` in the service's container.
    pub fn exec(&self, service: &str, args: &[&str]) -> Output {
        run(Command::new("podman")
            .arg("exec")
            .arg(format!("{}_{service}_1", self.project))
            .args(args))
    }

    /// The service's log, for failure messages.
    pub fn logs(&self, service: &str) -> String {
        let output = Command::new("podman")
            .arg("logs")
            .arg(format!("{}_{service}_1", self.project))
            .output()
            .expect("run podman logs");
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }
}

impl Drop for ComposeStack {
    fn drop(&mut self) {
        let _ = Command::new(podman_compose())
            .arg("-f")
            .arg(&self.file)
            .args(["down", "-v"])
            .output();
    }
}
