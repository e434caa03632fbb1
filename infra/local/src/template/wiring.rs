//! Each function's declared clients (its crate's `WIRING`, `crm_shared::api::wiring`) against its
//! IAM statements in the template: a `kms:` action ⇔ `kms`, `events:PutEvents` ⇔ `bus`. A client
//! built without its grant fails on first use in AWS; a grant without the client is a permission
//! nothing uses.

use crm_shared::api::wiring::Wiring;

use super::security::{field, resource_block, statements};

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().trim_start_matches("- ").len()
}

/// The actions one statement allows: its `Action:` value, continued on deeper-indented lines.
fn allowed_actions(statement: &[&str]) -> String {
    if field(statement, "Effect").is_none_or(|e| e.trim() != "Allow") {
        return String::new();
    }
    let Some(at) = statement.iter().position(|l| l.trim_start().trim_start_matches("- ").starts_with("Action:")) else {
        return String::new();
    };
    let key_indent = indent(statement[at]);
    let more = statement[at + 1..].iter().take_while(|l| indent(l) > key_indent);
    std::iter::once(field(&statement[at..], "Action").unwrap_or_default())
        .chain(more.map(|l| l.trim()))
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The clients the template's IAM statements let resource `id` call.
pub fn granted_wiring(text: &str, id: &str) -> Wiring {
    let block = resource_block(text, id);
    let actions: Vec<String> = statements(&block).iter().map(|s| allowed_actions(s)).collect();
    Wiring {
        kms: actions.iter().any(|a| a.contains("kms:")),
        bus: actions.iter().any(|a| a.contains("events:PutEvents")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{logical_id, template_text};
    use super::*;
    use crate::needs::wirings;

    #[test]
    fn every_function_builds_exactly_the_clients_its_iam_allows() {
        let text = template_text();
        let mut kms = 0;
        for (name, declared) in wirings() {
            let id = logical_id(name);
            assert_eq!(granted_wiring(&text, &id), declared, "{id}: IAM statements vs {name}::WIRING");
            kms += usize::from(declared.kms);
        }
        assert!(kms >= 7, "the Meta-token key's users are read ({kms} found)");
    }

    #[test]
    fn the_reader_sees_actions_on_one_line_or_continued_and_ignores_conditions_and_denials() {
        let text = "Resources:\n  A:\n    Type: AWS::Serverless::Function\n    Properties:\n      Policies:\n        - Statement:\n            - Effect: Allow\n              Action: dynamodb:GetItem\n              Resource: x\n              Condition:\n                StringEquals:\n                  \"kms:EncryptionContext:tenant_id\": \"*\"\n  B:\n    Type: AWS::Serverless::Function\n    Properties:\n      Policies:\n        - Statement:\n            - Effect: Allow\n              Action:\n                [dynamodb:GetItem,\n                 events:PutEvents]\n              Resource: x\n            - Effect: Allow\n              Action: [kms:Encrypt, kms:Decrypt]\n              Resource: y\n  C:\n    Type: AWS::Serverless::Function\n    Properties:\n      Policies:\n        - Statement:\n            - Effect: Deny\n              Action: kms:Decrypt\n              Resource: y\n";
        assert_eq!(granted_wiring(text, "A"), Wiring::NONE, "a kms: condition key is not an action");
        assert_eq!(granted_wiring(text, "B"), Wiring::ALL);
        assert_eq!(granted_wiring(text, "C"), Wiring::NONE, "a Deny grants nothing");
    }
}
