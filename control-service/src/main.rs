use clap::Parser;
use wasp_control::cli::{run, Cli};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wasp-control: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
