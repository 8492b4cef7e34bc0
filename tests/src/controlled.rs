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
        let input = input.args(["--service-control-url", &format!("http://127.0.0.1:{port}")]);
        let gateway = Gateway::start_compiled_workers(&input, backend_url, echo, workers);
        let config = gateway.compiled.path().join("control.json");
        assert!(
            config.is_file(),
            "wasp compile --service-control-url wrote no control.json for wasp-control --config"
        );
        let control = ControlService::start(&config, port, options);
        ControlledGateway { gateway, control }
    }
}

impl Deref for ControlledGateway {
    type Target = Gateway;

    fn deref(&self) -> &Gateway {
        &self.gateway
    }
}
