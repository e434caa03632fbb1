//! The tenant's own WhatsApp connection (`/crm/marketing/whatsapp`).

use crm_shared::automation::stop_words::{MAX_STOP_WORDS, MAX_STOP_WORD_CHARS};
use crm_shared::platform::auth::Access;
use serde_json::{json, Value};

use super::ops::{Guard, Op};
use super::schema::*;

const PATH: &str = "/crm/marketing/whatsapp";
const FUNCTION: &str = "whatsapp-connection";

pub fn schemas() -> Vec<(&'static str, Value)> {
    let view = object_with_optional(
        &[("connected", boolean()), ("status", one_of_strings(&["connected", "not_connected"]))],
        &[
            ("phone_number", described(string(), "the sender number (E.164, WhatsApp's form)")),
            ("waba_id", string()),
            (
                "api_key_masked",
                described(string(), "`••••` and the key's last 4 characters; the key is never returned"),
            ),
            ("last_verified_at", date_time()),
            ("connected_by", string()),
            ("stop_words", array(string())),
            (
                "webhook_secret_set",
                described(boolean(), "whether deliveries are checked with the tenant's own webhook secret"),
            ),
        ],
    );
    vec![("WhatsappConnection", view)]
}

fn connect_input() -> Value {
    let word = json!({"type": "string", "minLength": 1, "maxLength": MAX_STOP_WORD_CHARS});
    input(
        &[
            ("api_key", described(json!({"type": "string", "minLength": 1, "maxLength": 256}), "the tenant's YCloud API key")),
            ("phone_number", described(string(), "the sender number, E.164")),
            ("waba_id", described(json!({"type": "string", "minLength": 1, "maxLength": 64}), "its WhatsApp Business Account id")),
        ],
        &[
            (
                "stop_words",
                described(
                    nullable(json!({"type": "array", "items": word, "maxItems": MAX_STOP_WORDS})),
                    "replies that opt a contact out (case- and accent-insensitive); absent or empty: STOP, BAJA, CANCELAR, NO MÁS, UNSUBSCRIBE",
                ),
            ),
            (
                "webhook_secret",
                described(
                    nullable(json!({"type": "string", "minLength": 8, "maxLength": 256})),
                    "the signing secret of the webhook endpoint created in the tenant's YCloud account for `/crm/webhooks/ycloud`; stored encrypted, never returned",
                ),
            ),
        ],
        true,
    )
}

pub fn operations() -> Vec<Op> {
    let manage = Guard::Jwt(Access::Manage);
    vec![
        Op::new("GET", PATH, FUNCTION, Guard::Jwt(Access::AnyRole), "The tenant's WhatsApp connection")
            .describe("Number, WABA, status, masked key and when YCloud last verified it.")
            .ok(reference("WhatsappConnection")),
        Op::new("PUT", PATH, FUNCTION, manage, "Connect the tenant's own WhatsApp (YCloud) account")
            .describe("Verified with YCloud first (the key must list the number in the WABA): a refused key or a number not in that WABA → 400, a number another business connected → 409, YCloud down → 503; nothing is stored on a refusal. The key is stored KMS-encrypted under the tenant and never returned.")
            .body(connect_input())
            .body_example(json!({"api_key": "yc_live_…", "phone_number": "+5491155550123", "waba_id": "123456789012345"}))
            .ok(reference("WhatsappConnection"))
            .errors(&[400, 409, 503]),
        Op::new("DELETE", PATH, FUNCTION, manage, "Disconnect the tenant's WhatsApp")
            .describe("Removes the connection and releases the number; automated sends stop (`whatsapp_not_connected`).")
            .ok(reference("WhatsappConnection")),
    ]
}
