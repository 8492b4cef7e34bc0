//! The example backend of examples/hello (the seed's Flask app, in Rust):
//! `GET /hello` -> "Hello, World!", `GET /goodbye` -> "Goodbye, World!",
//! `/greeting` -> "Hello, project <number>!" with the consumer the gateway checked the API
//! key for (`X-Endpoint-API-Consumer-Number`), anything else 404. Usage: `hello_backend --listen 127.0.0.1:8081`
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
        let consumer = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("x-endpoint-api-consumer-number"))
            .map(|h| h.value.as_str().to_string());
        let (status, body) = reply_for(request.url(), consumer.as_deref());
        let _ = request.respond(tiny_http::Response::from_string(body).with_status_code(status));
    }
    ExitCode::SUCCESS
}

/// The Flask routes of the seed, and the greeting for a checked consumer; the query string
/// does not take part.
fn reply_for(target: &str, consumer: Option<&str>) -> (u16, String) {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    match path {
        "/hello" => (200, "Hello, World!".into()),
        "/goodbye" => (200, "Goodbye, World!".into()),
        "/greeting" => match consumer {
            Some(number) => (200, format!("Hello, project {number}!")),
            None => (200, "Hello, whoever you are!".into()),
        },
        _ => (404, "Not Found".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_path_and_greets_the_consumer() {
        assert_eq!(reply_for("/hello?x=1", None), (200, "Hello, World!".into()));
        assert_eq!(reply_for("/goodbye", None), (200, "Goodbye, World!".into()));
        assert_eq!(
            reply_for("/greeting?key=k", Some("42")),
            (200, "Hello, project 42!".into())
        );
        assert_eq!(reply_for("/nothing", None).0, 404);
    }
}
