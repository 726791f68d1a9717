//! Every DynamoDB call a store makes, as IAM authorises it (issue 25,
//! "rights from calls", the static layer): an interceptor on the SDK
//! client records each request's API action, and one call per item AWS
//! authorises on its own — each item of a `TransactWriteItems` as the
//! `PutItem`, `UpdateItem`, `DeleteItem` or `ConditionCheckItem` it is,
//! each key of a `BatchGetItem` — with the index it names and its leading
//! key (the partition key value `dynamodb:LeadingKeys` is checked against;
//! on an index, the index's partition key).
//!
//! [`Policy`] reads one function's statements from `infra/template.yaml`
//! and says which recorded calls none of them allows.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemInput;
use aws_sdk_dynamodb::operation::get_item::GetItemInput;
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_sdk_dynamodb::operation::scan::ScanInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_dynamodb::types::AttributeValue;

/// One call as IAM sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Call {
    /// `dynamodb:GetItem` and so on.
    pub action: String,
    /// The index it reads, if any.
    pub index: Option<String>,
    /// The partition key value it touches; none for an API action whose
    /// items are authorised one by one (`TransactWriteItems`,
    /// `BatchGetItem`) or that names no key (`Scan`).
    pub leading_key: Option<String>,
}

/// The calls recorded so far (clone it into the client's configuration).
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

impl CallLog {
    /// Everything recorded since the last take, and forgets it.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.0.lock().expect("the call log"))
    }

    fn push(&self, action: &str, index: Option<&str>, leading_key: Option<String>) {
        self.0.lock().expect("the call log").push(Call {
            action: format!("dynamodb:{action}"),
            index: index.map(str::to_owned),
            leading_key,
        });
    }
}

const PARTITION_KEY: &str = mutualaid_handler::store::dynamo::PARTITION_KEY;

fn pk(key: &HashMap<String, AttributeValue>) -> Option<String> {
    key.get(PARTITION_KEY).and_then(|v| v.as_s().ok()).cloned()
}

/// The value a key condition gives its partition key: the first
/// `name = :value` of the expression.
fn key_condition_value(query: &QueryInput) -> Option<String> {
    let condition = query.key_condition_expression()?;
    let first = condition.split(" AND ").next()?;
    let (_, placeholder) = first.split_once('=')?;
    query
        .expression_attribute_values()?
        .get(placeholder.trim())
        .and_then(|v| v.as_s().ok())
        .cloned()
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let input = context.input();
        if let Some(get) = input.downcast_ref::<GetItemInput>() {
            self.push("GetItem", None, get.key().and_then(pk));
        } else if let Some(put) = input.downcast_ref::<PutItemInput>() {
            self.push("PutItem", None, put.item().and_then(pk));
        } else if let Some(update) = input.downcast_ref::<UpdateItemInput>() {
            self.push("UpdateItem", None, update.key().and_then(pk));
        } else if let Some(delete) = input.downcast_ref::<DeleteItemInput>() {
            self.push("DeleteItem", None, delete.key().and_then(pk));
        } else if let Some(query) = input.downcast_ref::<QueryInput>() {
            self.push("Query", query.index_name(), key_condition_value(query));
        } else if let Some(scan) = input.downcast_ref::<ScanInput>() {
            self.push("Scan", scan.index_name(), None);
        } else if let Some(batch) = input.downcast_ref::<BatchGetItemInput>() {
            self.push("BatchGetItem", None, None);
            for keys in batch.request_items().into_iter().flat_map(|r| r.values()) {
                for key in keys.keys() {
                    self.push("BatchGetItem", None, pk(key));
                }
            }
        } else if let Some(transaction) = input.downcast_ref::<TransactWriteItemsInput>() {
            self.push("TransactWriteItems", None, None);
            for item in transaction.transact_items() {
                if let Some(put) = item.put() {
                    self.push("PutItem", None, pk(put.item()));
                }
                if let Some(update) = item.update() {
                    self.push("UpdateItem", None, pk(update.key()));
                }
                if let Some(delete) = item.delete() {
                    self.push("DeleteItem", None, pk(delete.key()));
                }
                if let Some(check) = item.condition_check() {
                    self.push("ConditionCheckItem", None, pk(check.key()));
                }
            }
        } else {
            // Table administration (CreateTable and the like): the tests' own set-up.
        }
        Ok(())
    }
}

/// What a policy statement's `Resource` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// The table (`Fn::GetAtt: [Table, Arn]`).
    Table,
    /// One of its indexes (`${Table.Arn}/index/NAME`; `*` for any).
    Index(String),
    /// Anything else (a secret, an identity).
    Other,
}

/// One `Allow` statement of a function's policy.
#[derive(Debug, Clone)]
pub struct Statement {
    /// Its `Sid`.
    pub sid: String,
    /// Its actions.
    pub actions: BTreeSet<String>,
    /// Its resources.
    pub resources: Vec<Resource>,
    /// Its `ForAllValues:StringLike` `dynamodb:LeadingKeys`, if any.
    pub leading_keys: Option<Vec<String>>,
}

/// A function's inline policy, as the template writes it.
#[derive(Debug, Clone)]
pub struct Policy(pub Vec<Statement>);

fn strings(value: &serde_norway::Value) -> Vec<String> {
    match value {
        serde_norway::Value::String(s) => vec![s.clone()],
        serde_norway::Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

fn resource(value: &serde_norway::Value) -> Resource {
    if let Some(att) = value.get("Fn::GetAtt") {
        return match strings(att).as_slice() {
            [table, arn] if table == "Table" && arn == "Arn" => Resource::Table,
            _ => Resource::Other,
        };
    }
    match value.get("Fn::Sub").and_then(|s| s.as_str()) {
        Some(sub) => match sub.strip_prefix("${Table.Arn}/index/") {
            Some(name) => Resource::Index(name.to_owned()),
            None if sub == "${Table.Arn}" => Resource::Table,
            None => Resource::Other,
        },
        None => Resource::Other,
    }
}

/// Whether `value` matches an IAM `StringLike` pattern (`*` for any run).
fn like(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((head, rest)) => {
            value.starts_with(head) && {
                let tail = &value[head.len()..];
                (0..=tail.len()).any(|i| tail.is_char_boundary(i) && like(rest, &tail[i..]))
            }
        }
    }
}

impl Policy {
    /// The inline policy of `function` (a resource name) in `template`.
    pub fn of(template: &serde_norway::Value, function: &str) -> Policy {
        let policies = template["Resources"][function]["Properties"]["Policies"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{function} has inline policies"));
        Policy(
            policies
                .iter()
                .flat_map(|p| p["Statement"].as_sequence().expect("statements").iter())
                .map(|s| {
                    assert_eq!(
                        s["Effect"].as_str(),
                        Some("Allow"),
                        "{function}: allows only"
                    );
                    Statement {
                        sid: s["Sid"].as_str().unwrap_or_default().to_owned(),
                        actions: strings(&s["Action"]).into_iter().collect(),
                        resources: s["Resource"]
                            .as_sequence()
                            .map(|r| r.iter().map(resource).collect())
                            .unwrap_or_default(),
                        leading_keys: s.get("Condition").map(|c| {
                            strings(&c["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
                        }),
                    }
                })
                .collect(),
        )
    }

    /// The statement that allows `call`, if one does: its action, its
    /// resource (the table, or the index it names) and, where the
    /// statement limits them, its leading key.
    pub fn allowing(&self, call: &Call) -> Option<&Statement> {
        self.0.iter().find(|s| {
            s.actions.contains(&call.action)
                && s.resources.iter().any(|r| match (r, &call.index) {
                    (Resource::Table, None) => true,
                    (Resource::Index(name), Some(index)) => name == "*" || name == index,
                    _ => false,
                })
                && match (&s.leading_keys, &call.leading_key) {
                    (Some(patterns), Some(key)) => patterns.iter().any(|p| like(p, key)),
                    // ForAllValues over no key at all holds (a Scan, a transaction's API action).
                    _ => true,
                }
        })
    }

    /// The calls no statement allows.
    pub fn refused<'a>(&self, calls: &'a [Call]) -> Vec<&'a Call> {
        calls
            .iter()
            .filter(|c| self.allowing(c).is_none())
            .collect()
    }

    /// The DynamoDB actions, and the leading-key patterns, the policy
    /// grants that no call in `calls` uses (each right must be called).
    pub fn unused(&self, calls: &[Call]) -> Vec<String> {
        let mut unused = Vec::new();
        for statement in &self.0 {
            let dynamo = statement
                .resources
                .iter()
                .any(|r| !matches!(r, Resource::Other));
            if !dynamo {
                continue;
            }
            let used: Vec<&Call> = calls
                .iter()
                .filter(|c| self.allowing(c).is_some_and(|s| s.sid == statement.sid))
                .collect();
            for action in &statement.actions {
                if !used.iter().any(|c| &c.action == action) {
                    unused.push(format!("{}: {action}", statement.sid));
                }
            }
            for pattern in statement.leading_keys.iter().flatten() {
                let keyed = |c: &&&Call| c.leading_key.as_deref().is_some_and(|k| like(pattern, k));
                if !used.iter().any(|c| keyed(&c)) {
                    unused.push(format!("{}: leading key {pattern}", statement.sid));
                }
            }
        }
        unused
    }
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn string_like_patterns() {
        assert!(like("PERSON#*", "PERSON#abc"));
        assert!(like("COUNTS", "COUNTS"));
        assert!(!like("COUNTS", "COUNTS#x"));
        assert!(!like("PERSON#*", "RATE#x"));
        assert!(like("*", ""));
    }
}
