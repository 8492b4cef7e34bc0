//! The example backend of examples/hello (the seed's Flask app, in Rust):
//! `GET /hello` -> "Hello, World!", `GET /goodbye` -> "Goodbye, World!",
//! anything else 404. Usage: `hello_backend --listen 127.0.0.1:8081`
//! (port 0 picks a free port; the first line on stderr names the bound address).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let listen = match args.as_slice() {
        [_, flag, addr] if flag == "--listen" => addr.clone(),
        [_] => "127.0.0.1:8081".to_string(),
        _ => {
            eprintln!("usage: hello_backend [--listen ADDR:PORT]");
            return ExitCode::from(2);
        }
    };
    let server = match tiny_http::Server::http(&listen) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("hello_backend: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match server.server_addr().to_ip() {
        Some(addr) => eprintln!("hello_backend: listening on {addr}"),
        None => eprintln!("hello_backend: listening on {listen}"),
    }
    for request in server.incoming_requests() {
        let (status, body) = reply_for(request.url());
        let _ = request.respond(tiny_http::Response::from_string(body).with_status_code(status));
    }
    ExitCode::SUCCESS
}

/// The Flask routes of the seed; the query string does not take part.
fn reply_for(target: &str) -> (u16, &'static str) {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    match path {
        "/hello" => (200, "Hello, World!"),
        "/goodbye" => (200, "Goodbye, World!"),
        _ => (404, "Not Found"),
    }
}
