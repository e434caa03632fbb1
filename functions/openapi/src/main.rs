use lambda_http::Error;

/// No `App`: the document is static, so this function needs no configuration, secret or table.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    crm_shared::api::lambda::serve_http(|req| std::future::ready(openapi::handle(&req))).await
}
