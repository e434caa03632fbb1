use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ whatsapp_connection::WIRING.bits() }>(whatsapp_connection::SECRETS).await?;
    run(service_fn(|req: Request| async { Ok::<_, Error>(whatsapp_connection::handle(&app, req).await) })).await
}
