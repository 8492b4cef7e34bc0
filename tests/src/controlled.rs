//! A gateway with its control service: the spec compiled with
//! `--service-control-url` pointing at a reserved loopback port, Envoy started on it, and
//! the real `wasp-control` serving the `control.json` the compiler wrote on that port.

use std::ops::Deref;

use crate::control::{free_port, ControlOptions, ControlService};
use crate::echo::EchoBackend;
use crate::gateway::Gateway;
use crate::spec::CompileInput;

/// Fields drop in order: Envoy first, then the control service.
pub struct ControlledGateway {
    pub gateway: Gateway,
    pub control: ControlService,
    /// The CA and client certificate Envoy reads, when the control service is on TLS.
    _client_files: Option<tempfile::TempDir>,
}

impl ControlledGateway {
    /// `spec` behind an echo backend, with a fresh control service (memory quota windows).
    pub fn start(spec: &str) -> ControlledGateway {
        ControlledGateway::start_with(CompileInput::new(spec), ControlOptions::default())
    }

    /// `input` (extra `wasp compile` options included) with a control service started with `options`.
    pub fn start_with(input: CompileInput, options: ControlOptions) -> ControlledGateway {
        ControlledGateway::start_workers(input, options, 1)
    }

    /// [`ControlledGateway::start_with`] with `workers` Envoy worker threads (one wasm VM
    /// each, with its own Check and quota caches).
    pub fn start_workers(
        input: CompileInput,
        options: ControlOptions,
        workers: u32,
    ) -> ControlledGateway {
        let echo = EchoBackend::start();
        let url = echo.url();
        ControlledGateway::start_behind(input, options, workers, &url, Some(echo))
    }

    /// [`ControlledGateway::start_workers`] in front of `backend_url` (kept alive by the
    /// caller, or `echo`, which the gateway keeps).
    pub fn start_behind(
        input: CompileInput,
        options: ControlOptions,
        workers: u32,
        backend_url: &str,
        echo: Option<EchoBackend>,
    ) -> ControlledGateway {
        let port = free_port();
        let mut client_files = None;
        let input = match &options.tls {
            // The server certificate names 127.0.0.1; Envoy checks it against the CA and
            // presents the client certificate the CA signed.
            Some(ca) => {
                let dir = tempfile::Builder::new()
                    .prefix("wasp-control-client-")
                    .tempdir()
                    .expect("create a temporary directory");
                ca.write_client_files(dir.path(), "gateway");
                let ca_file = ca.write_ca(dir.path()).display().to_string();
                let cert_dir = dir.path().display().to_string();
                client_files = Some(dir);
                input
                    .args([
                        "--service-control-url",
                        &format!("https://127.0.0.1:{port}"),
                    ])
                    .args(["--root-certs", &ca_file])
                    .args(["--service-control-client-cert-path", &cert_dir])
            }
            None => input.args(["--service-control-url", &format!("http://127.0.0.1:{port}")]),
        };
        let gateway = Gateway::start_compiled_workers(&input, backend_url, echo, workers);
        let config = gateway.compiled.path().join("control.json");
        assert!(
            config.is_file(),
            "wasp compile --service-control-url wrote no control.json for wasp-control --config"
        );
        let control = ControlService::start(&config, port, options);
        ControlledGateway {
            gateway,
            control,
            _client_files: client_files,
        }
    }
}

impl Deref for ControlledGateway {
    type Target = Gateway;

    fn deref(&self) -> &Gateway {
        &self.gateway
    }
}
