//! The template's security properties, read as text like the rest of [`super`]: which secrets
//! each function gets (env vars and `secretsmanager:GetSecretValue` grants), the KMS conditions
//! of every statement that uses the Meta-token key, and who may send to the dead-letter queues.
//! The tests below hold them to the code (each function crate's `SECRETS`) and to the rules.

use std::collections::{BTreeMap, BTreeSet};

use crm_shared::platform::secrets::SecretName;

/// The template's secret resources and the secret each one holds.
pub const SECRET_RESOURCES: [(&str, SecretName); 6] = [
    ("JwtSecret", SecretName::JwtSecretKey),
    ("AdminTokenSecret", SecretName::AdminToken),
    ("MetaAppSecret", SecretName::MetaAppSecret),
    ("MetaWebhookVerifyTokenSecret", SecretName::MetaWebhookVerifyToken),
    ("YcloudApiKeySecret", SecretName::YcloudApiKey),
    ("YcloudWebhookSecret", SecretName::YcloudWebhookSecret),
];

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// The lines of top-level section `name` (e.g. `Globals`), without its key line.
pub fn section<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let key = format!("{name}:");
    text.lines().skip_while(|l| l.trim_end() != key).skip(1).take_while(|l| !is_content(l) || indent(l) > 0).collect()
}

/// The lines of resource `id` (its key line excluded), up to the next resource.
pub fn resource_block<'a>(text: &'a str, id: &str) -> Vec<&'a str> {
    let key = format!("  {id}:");
    let resources = section(text, "Resources");
    resources
        .iter()
        .skip_while(|l| l.trim_end() != key)
        .skip(1)
        .take_while(|l| !is_content(l) || indent(l) > 2)
        .copied()
        .collect()
}

/// Logical ids of the resources of type `ty`.
pub fn resources_of_type(text: &str, ty: &str) -> Vec<String> {
    let resources = section(text, "Resources");
    let mut out = Vec::new();
    let mut current: Option<&str> = None;
    for l in resources {
        if indent(l) == 2 && is_content(l) {
            current = Some(l.trim().trim_end_matches(':'));
        } else if indent(l) == 4 && l.trim() == format!("Type: {ty}") {
            out.extend(current.map(str::to_string));
        }
    }
    out
}

/// `KEY: value` of every `Variables:` map in `block`.
pub fn env_vars(block: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut vars_indent: Option<usize> = None;
    for l in block.iter().filter(|l| is_content(l)) {
        if let Some(vi) = vars_indent {
            if indent(l) > vi {
                if let Some((k, v)) = l.trim().split_once(':') {
                    out.push((k.trim().to_string(), v.trim().to_string()));
                }
                continue;
            }
            vars_indent = None;
        }
        if l.trim() == "Variables:" {
            vars_indent = Some(indent(l));
        }
    }
    out
}

/// The items of every IAM `Statement:` list in `block`, each as its lines.
pub fn statements<'a>(block: &[&'a str]) -> Vec<Vec<&'a str>> {
    let mut out: Vec<Vec<&'a str>> = Vec::new();
    let mut list_indent: Option<usize> = None;
    for l in block.iter().copied().filter(|l| is_content(l)) {
        if let Some(li) = list_indent {
            if indent(l) > li {
                if l.trim_start().starts_with("- ") && indent(l) <= li + 2 {
                    out.push(vec![l]);
                } else if let Some(last) = out.last_mut() {
                    last.push(l);
                }
                continue;
            }
            list_indent = None;
        }
        if l.trim_start().trim_start_matches("- ").trim_end() == "Statement:" {
            list_indent = Some(l.find("Statement").unwrap_or(0));
        }
    }
    out
}

/// The value of `key:` in a statement (its first occurrence, `- ` prefix allowed).
pub(crate) fn field<'a>(statement: &[&'a str], key: &str) -> Option<&'a str> {
    statement.iter().find_map(|l| l.trim_start().trim_start_matches("- ").strip_prefix(key)?.strip_prefix(':'))
}

/// Resource names in `!Ref A`, `[!Ref A, !Ref B]`, `!GetAtt A.Arn` or `"${A.Arn}/…"`.
pub fn names(value: &str) -> Vec<String> {
    value
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .filter_map(|v| {
            let v = v.trim();
            v.strip_prefix("!Ref ")
                .or_else(|| v.strip_prefix("!GetAtt ").map(|a| a.split('.').next().unwrap_or(a)))
                .map(|n| n.trim().to_string())
        })
        .collect()
}

/// A function's secrets as the template wires them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SecretWiring {
    /// Secret env var → the secret resource it names (`!Ref X`), or the raw value.
    pub env: BTreeMap<String, String>,
    /// Secret resources in its `secretsmanager:GetSecretValue` statements.
    pub grants: BTreeSet<String>,
}

fn is_secret_var(var: &str) -> bool {
    SecretName::ALL.iter().any(|n| n.env_var() == var || n.arn_env_var() == var)
}

/// The secrets resource `id` gets: its secret env vars and what it may read from Secrets Manager.
pub fn secret_wiring(text: &str, id: &str) -> SecretWiring {
    let block = resource_block(text, id);
    let env = env_vars(&block)
        .into_iter()
        .filter(|(k, _)| is_secret_var(k))
        .map(|(k, v)| (k, names(&v).into_iter().next().unwrap_or(v)))
        .collect();
    let grants = statements(&block)
        .iter()
        .filter(|s| field(s, "Action").is_some_and(|a| a.contains("secretsmanager:")))
        .flat_map(|s| field(s, "Resource").map(names).unwrap_or_default())
        .collect();
    SecretWiring { env, grants }
}

/// What the template must give a function that declares `needs`.
pub fn expected_wiring(needs: &[SecretName]) -> SecretWiring {
    let resource =
        |n: &SecretName| SECRET_RESOURCES.iter().find(|(_, s)| s == n).map(|(r, _)| r.to_string()).unwrap_or_default();
    SecretWiring {
        env: needs.iter().map(|n| (n.arn_env_var().to_string(), resource(n))).collect(),
        grants: needs.iter().map(resource).collect(),
    }
}

/// Every IAM statement of the functions that allows a `kms:` action (the key policy's own
/// statement, with a `Principal`, is the account administering the key).
pub fn kms_statements(text: &str) -> Vec<Vec<&str>> {
    let resources = section(text, "Resources");
    statements(&resources)
        .into_iter()
        .filter(|s| field(s, "Action").is_some_and(|a| a.contains("kms:")))
        .filter(|s| field(s, "Effect").is_some_and(|e| e.trim() == "Allow"))
        .filter(|s| field(s, "Principal").is_none())
        .collect()
}

/// Queue → the EventBridge rules (`<Function><Event>`, as SAM names them) dead-lettering into it.
pub fn dead_letter_rules(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in resources_of_type(text, "AWS::Serverless::Function") {
        let block = resource_block(text, &f);
        let mut event: Option<&str> = None;
        let mut in_dlc = false;
        for l in block.iter().filter(|l| is_content(l)) {
            if indent(l) == 8 {
                event = Some(l.trim().trim_end_matches(':'));
            }
            if l.trim() == "DeadLetterConfig:" && indent(l) > 8 {
                in_dlc = true;
            } else if in_dlc {
                if let (Some(e), Some(arn)) = (event, l.trim().strip_prefix("Arn:")) {
                    for queue in names(arn) {
                        out.entry(queue).or_default().insert(format!("{f}{e}"));
                    }
                }
                in_dlc = false;
            }
        }
    }
    out
}

/// Queue policy → (its queue, the `aws:SourceArn` rules of its statements for EventBridge).
pub fn queue_policy_sources(text: &str, policy: &str) -> (Vec<String>, Vec<BTreeSet<String>>) {
    let block = resource_block(text, policy);
    let queues = block.iter().find_map(|l| l.trim().strip_prefix("Queues:").map(names)).unwrap_or_default();
    let sources = statements(&block)
        .iter()
        .filter(|s| field(s, "Principal").is_some_and(|p| p.contains("events.amazonaws.com")))
        .map(|s| s.iter().filter_map(|l| l.trim().strip_prefix("\"aws:SourceArn\":").map(names)).flatten().collect())
        .collect();
    (queues, sources)
}

#[cfg(test)]
mod tests {
    use super::super::{logical_id, template_text};
    use super::*;
    use crate::needs::secret_needs;

    #[test]
    fn every_function_gets_exactly_the_secrets_it_declares() {
        let text = template_text();
        for (name, needs) in secret_needs() {
            let id = logical_id(name);
            assert_eq!(secret_wiring(&text, &id), expected_wiring(needs), "{id}: template vs {name}::SECRETS");
        }
    }

    #[test]
    fn public_functions_never_get_the_jwt_key_or_admin_token() {
        let text = template_text();
        for id in ["MetaWebhookFunction", "MetaAuthCallbackFunction", "YcloudWebhookFunction"] {
            let w = secret_wiring(&text, id);
            for (forbidden_var, forbidden_resource) in
                [("JWT_SECRET_KEY_ARN", "JwtSecret"), ("ADMIN_TOKEN_ARN", "AdminTokenSecret")]
            {
                assert!(!w.env.contains_key(forbidden_var), "{id} sets {forbidden_var}");
                assert!(!w.grants.contains(forbidden_resource), "{id} may read {forbidden_resource}");
            }
        }
    }

    #[test]
    fn globals_set_no_secret_and_nothing_else_reads_secrets() {
        let text = template_text();
        let globals = section(&text, "Globals");
        let secret_vars: Vec<String> =
            env_vars(&globals).into_iter().map(|(k, _)| k).filter(|k| is_secret_var(k)).collect();
        assert!(secret_vars.is_empty(), "Globals hands every function {secret_vars:?}");
        // Every secret resource is one the drift test knows, and no non-function grants reads.
        let mut declared = resources_of_type(&text, "AWS::SecretsManager::Secret");
        declared.sort();
        let mut known: Vec<String> = SECRET_RESOURCES.iter().map(|(r, _)| r.to_string()).collect();
        known.sort();
        assert_eq!(declared, known);
        let functions = resources_of_type(&text, "AWS::Serverless::Function");
        let all = section(&text, "Resources");
        let grants = statements(&all)
            .iter()
            .filter(|s| field(s, "Action").is_some_and(|a| a.contains("secretsmanager:")))
            .count();
        let in_functions: usize = functions
            .iter()
            .map(|f| {
                statements(&resource_block(&text, f))
                    .iter()
                    .filter(|s| field(s, "Action").is_some_and(|a| a.contains("secretsmanager:")))
                    .count()
            })
            .sum();
        assert_eq!(grants, in_functions, "a secretsmanager grant outside the functions");
    }

    #[test]
    fn kms_statements_pin_the_encryption_context_to_exactly_tenant_id() {
        let text = template_text();
        let kms = kms_statements(&text);
        assert!(kms.len() >= 7, "every function using the Meta-token key ({} found)", kms.len());
        for s in kms {
            let body: Vec<&str> = s.iter().map(|l| l.trim()).collect();
            let at = |line: &str| body.iter().position(|l| *l == line);
            let context = at("\"kms:EncryptionContext:tenant_id\": \"*\"");
            let keys = at("ForAllValues:StringEquals:").zip(at("\"kms:EncryptionContextKeys\": [tenant_id]"));
            let present = at("\"Null\":").zip(at("\"kms:EncryptionContextKeys\": \"false\""));
            assert!(context.is_some(), "tenant_id must carry a value: {body:?}");
            assert!(keys.is_some_and(|(a, b)| b == a + 1), "only the tenant_id context key: {body:?}");
            assert!(present.is_some_and(|(a, b)| b == a + 1), "a context must be present: {body:?}");
            assert!(!body.iter().any(|l| l.contains("kms:*")), "no wildcard KMS action: {body:?}");
        }
    }

    #[test]
    fn dead_letter_queues_accept_only_their_own_rules() {
        let text = template_text();
        let rules = dead_letter_rules(&text);
        assert_eq!(rules.len(), 2, "two queues are EventBridge rule dead-letter targets: {rules:?}");
        for policy in resources_of_type(&text, "AWS::SQS::QueuePolicy") {
            let (queues, sources) = queue_policy_sources(&text, &policy);
            let [queue] = queues.as_slice() else { panic!("{policy}: one queue per policy") };
            let expected = rules.get(queue).cloned().unwrap_or_default();
            assert!(!sources.is_empty(), "{policy} has no EventBridge statement");
            for s in sources {
                assert_eq!(
                    s, expected,
                    "{policy}: aws:SourceArn must be exactly the rules dead-lettering into {queue}"
                );
            }
        }
        let expected: BTreeSet<String> = ["CrmEventsFunctionCrmDomainEvents".to_string()].into();
        assert_eq!(rules.get("CrmEventsDeadLetterQueue"), Some(&expected));
    }

    #[test]
    fn the_readers_see_what_they_are_meant_to() {
        let text = "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      Environment:\n        Variables:\n          A_ARN: !Ref X\n          JWT_SECRET_KEY_ARN: !Ref JwtSecret\n      Policies:\n        - Statement:\n            - Effect: Allow\n              Action: secretsmanager:GetSecretValue\n              Resource: [!Ref JwtSecret, !Ref Other]\n            - Effect: Allow\n              Action: kms:Decrypt\n              Resource: !GetAtt Key.Arn\n  Next:\n    Type: X\n";
        let w = secret_wiring(text, "Fn");
        assert_eq!(w.env, [("JWT_SECRET_KEY_ARN".to_string(), "JwtSecret".to_string())].into());
        assert_eq!(w.grants, ["JwtSecret".to_string(), "Other".to_string()].into());
        assert_eq!(kms_statements(text).len(), 1);
        assert_eq!(names("[!Ref A, !GetAtt B.Arn]"), vec!["A", "B"]);
    }
}
