//! What counts as "stop" in an inbound WhatsApp message: a text, a template's quick-reply button
//! (`button`: its text or payload) or an interactive reply (`interactive.button_reply` /
//! `list_reply`: id or title) equal to one of the tenant's stop words — [`DEFAULT_STOP_WORDS`]
//! unless its WhatsApp connection sets its own — compared case-, accent- and punctuation-
//! insensitively, or a button whose text or payload *starts* with one (`Stop promotions`,
//! `STOP_PROMOS`), since a tap is never a sentence.

use serde_json::Value;

/// The stop words of a tenant that sets none.
pub const DEFAULT_STOP_WORDS: [&str; 5] = ["STOP", "BAJA", "CANCELAR", "NO MÁS", "UNSUBSCRIBE"];

/// Most words a tenant may set, and their longest length.
pub const MAX_STOP_WORDS: usize = 20;
pub const MAX_STOP_WORD_CHARS: usize = 30;

/// Upper case without accents, punctuation as spaces, spaces collapsed (`¡No más!` → `NO MAS`).
pub fn fold(text: &str) -> String {
    let mapped: String = text
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'ä' | 'â' | 'ã' | 'Á' | 'À' | 'Ä' | 'Â' | 'Ã' => 'A',
            'é' | 'è' | 'ë' | 'ê' | 'É' | 'È' | 'Ë' | 'Ê' => 'E',
            'í' | 'ì' | 'ï' | 'î' | 'Í' | 'Ì' | 'Ï' | 'Î' => 'I',
            'ó' | 'ò' | 'ö' | 'ô' | 'õ' | 'Ó' | 'Ò' | 'Ö' | 'Ô' | 'Õ' => 'O',
            'ú' | 'ù' | 'ü' | 'û' | 'Ú' | 'Ù' | 'Ü' | 'Û' => 'U',
            'ñ' | 'Ñ' => 'N',
            'ç' | 'Ç' => 'C',
            c if c.is_alphanumeric() => c.to_ascii_uppercase(),
            _ => ' ',
        })
        .collect();
    mapped.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A tenant's list as given (`None`: the defaults), folded; refused (with why) when a word is
/// empty after folding, too long, or the list too long.
pub fn validate(words: &[String]) -> Result<Vec<String>, String> {
    if words.len() > MAX_STOP_WORDS {
        return Err(format!("at most {MAX_STOP_WORDS} stop words"));
    }
    words
        .iter()
        .map(|w| {
            let f = fold(w);
            if f.is_empty() || w.chars().count() > MAX_STOP_WORD_CHARS {
                Err(format!(
                    "stop word {:?} must have 1–{MAX_STOP_WORD_CHARS} letters",
                    w.chars().take(40).collect::<String>()
                ))
            } else {
                Ok(f)
            }
        })
        .collect()
}

fn words_of(tenant_words: &[String]) -> Vec<String> {
    if tenant_words.is_empty() {
        DEFAULT_STOP_WORDS.iter().map(|w| fold(w)).collect()
    } else {
        tenant_words.iter().map(|w| fold(w)).collect()
    }
}

/// Whether the inbound message (`whatsappInboundMessage`) asks to stop, by `tenant_words` (empty:
/// the defaults).
pub fn is_stop(message: &Value, tenant_words: &[String]) -> bool {
    let words = words_of(tenant_words);
    let exact = |t: &str| {
        let f = fold(t);
        !f.is_empty() && words.contains(&f)
    };
    let leading = |t: &str| {
        let f = fold(t);
        words.iter().any(|w| f == *w || f.starts_with(&format!("{w} ")))
    };
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    match message["type"].as_str().unwrap_or_default() {
        "button" => {
            let b = &message["button"];
            leading(&s(&b["text"])) || leading(&s(&b["payload"]))
        }
        "interactive" => {
            let i = &message["interactive"];
            ["button_reply", "list_reply"].iter().any(|k| leading(&s(&i[k]["title"])) || leading(&s(&i[k]["id"])))
        }
        _ => exact(&s(&message["text"]["body"])),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn texts_match_the_defaults_ignoring_case_accents_and_punctuation() {
        let text = |t: &str| json!({"type": "text", "text": {"body": t}});
        for t in ["STOP", "stop", " Baja ", "cancelar.", "¡No más!", "no mas", "Unsubscribe"] {
            assert!(is_stop(&text(t), &[]), "{t}");
        }
        for t in ["hola", "stop sending me promos please", "no", ""] {
            assert!(!is_stop(&text(t), &[]), "{t}");
        }
    }

    #[test]
    fn buttons_and_interactive_replies_count() {
        let button = json!({"type": "button", "button": {"text": "Stop promotions", "payload": "x"}});
        assert!(is_stop(&button, &[]));
        let payload = json!({"type": "button", "button": {"text": "No quiero", "payload": "STOP_PROMOS"}});
        assert!(is_stop(&payload, &[]));
        let reply = json!({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "b1", "title": "Baja"}}});
        assert!(is_stop(&reply, &[]));
        let other = json!({"type": "button", "button": {"text": "Quiero más info", "payload": "MORE"}});
        assert!(!is_stop(&other, &[]));
        // A stop word in a button's middle is not a stop.
        let middle = json!({"type": "button", "button": {"text": "Don't stop", "payload": "KEEP"}});
        assert!(!is_stop(&middle, &[]));
    }

    #[test]
    fn a_tenant_list_replaces_the_defaults() {
        let words = validate(&["Basta".into(), "Parar ya".into()]).expect("valid");
        let text = |t: &str| json!({"type": "text", "text": {"body": t}});
        assert!(is_stop(&text("basta!"), &words));
        assert!(is_stop(&text("PARAR YA"), &words));
        assert!(!is_stop(&text("stop"), &words), "the tenant's list replaces the defaults");
        assert!(validate(&["!!!".into()]).is_err());
        assert!(validate(&vec!["x".to_string(); MAX_STOP_WORDS + 1]).is_err());
    }
}
