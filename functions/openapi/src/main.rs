use lambda_http::{run, service_fn, Error, Request};

/// No `App`: the document is static, so this function needs no configuration, secret or table.
#[tokio::main]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    run(service_fn(|req: Request| async move { Ok::<_, Error>(openapi::handle(&req)) })).await
}
