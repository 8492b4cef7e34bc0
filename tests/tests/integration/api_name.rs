//! `x-google-api-name`: two spec files for one service, each naming its API,
//! compiled into one config; every operation carries its own API's name (as
//! the access log shows) and reaches the backend.

use wasp_tests::{CompileInput, Gateway};

const PRODUCER: &str = "swagger: \"2.0\"
info: {title: Producer, version: 1.0.3}
host: api.example.com
x-google-api-name: producer
paths:
  /produce:
    get:
      operationId: produce
      responses: {'200': {description: ok}}
";

const CONSUMER: &str = "swagger: \"2.0\"
info: {title: Consumer, version: 1.1.0}
host: api.example.com
x-google-api-name: consumer
paths:
  /consume:
    get:
      operationId: consume
      responses: {'200': {description: ok}}
";

#[test]
fn operations_of_two_named_apis_carry_their_api_names() {
    let input = CompileInput::new(PRODUCER).file("consumer.yaml", CONSUMER);
    let echo = wasp_tests::EchoBackend::start();
    let url = echo.url();
    let gw = Gateway::start_compiled(&input, &url, Some(echo));

    for (path, api, id) in [
        ("/produce", "producer", "Produce"),
        ("/consume", "consumer", "Consume"),
    ] {
        let (reply, operation) = gw.send_logged("GET", path);
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        assert_eq!(reply.echoed().path, path);
        assert_eq!(operation, format!("1.{api}.{id}"), "{path}");
    }
}
