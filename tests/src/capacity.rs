//! DynamoDB's capacity units, computed from the items each call writes and
//! reads (moto reports a constant): an SDK interceptor that sizes every
//! item by DynamoDB's rules and rounds as on-demand billing does.
//!
//! - **Item size**: each attribute's name plus its value — a string's or
//!   binary's bytes, a number's `(significant digits + 1) / 2 + 1`, 1 for a
//!   boolean or null, 3 plus its elements (and their names, plus 1 each)
//!   for a map or list.
//! - **Writes**: 1 write unit per started KB of the item, per item; twice
//!   that inside `TransactWriteItems` (a condition check counted as a
//!   write of its key, the conservative reading); one more write per
//!   global secondary index the item is in. An update is sized by the item
//!   as it is after the run ([`Capacity::settle`]); a delete by 1 KB.
//! - **Reads**: 1 read unit per started 4 KB, half for an eventually
//!   consistent read (every index read is); a `Query` or `Scan` rounds the
//!   total of the items it returns, a `GetItem` or `BatchGetItem` each item.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemInput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::scan::ScanOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_dynamodb::types::AttributeValue;
use mutualaid_handler::store::dynamo::{
    INDEX_PARTITION_KEY, PARTITION_KEY, PENDING_ATTRIBUTE, SORT_KEY,
};

/// An item, as the SDK holds one.
pub type Item = HashMap<String, AttributeValue>;

/// A number's size: its significant digits, two to a byte, plus one.
fn number_size(n: &str) -> usize {
    let digits: String = n.chars().filter(char::is_ascii_digit).collect();
    let significant = digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .len()
        .max(1);
    significant.div_ceil(2) + 1
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| k.len() + value_size(v) + 1)
                .sum::<usize>()
        }
        AttributeValue::L(list) => 3 + list.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}

/// An item's size by DynamoDB's rules, in bytes.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// The global secondary indexes an item is in.
fn indexes_of(item: &Item) -> usize {
    usize::from(item.contains_key(INDEX_PARTITION_KEY))
        + usize::from(item.contains_key(PENDING_ATTRIBUTE))
}

fn write_units(size: usize) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

fn read_units(size: usize, consistent: bool) -> f64 {
    let units = size.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

/// What a run consumed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    /// Read request units.
    pub read: f64,
    /// Write request units.
    pub write: f64,
    /// API calls.
    pub calls: u64,
}

#[derive(Debug, Default)]
struct Ledger {
    units: Units,
    /// Updates to size once the run is over: (key, factor, indexes named).
    updates: Vec<((String, String), f64, usize)>,
}

/// The interceptor (clone it into the client's configuration).
#[derive(Debug, Clone, Default)]
pub struct Capacity(Arc<Mutex<Ledger>>);

fn key_of(key: &Item) -> (String, String) {
    let text = |name: &str| {
        key.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    (text(PARTITION_KEY), text(SORT_KEY))
}

fn indexes_named(expression: Option<&str>) -> usize {
    let e = expression.unwrap_or_default();
    usize::from(e.contains(INDEX_PARTITION_KEY)) + usize::from(e.contains(PENDING_ATTRIBUTE))
}

impl Capacity {
    /// Sizes the updates of the run by the items as they are now (`items`:
    /// the table, read by a client this interceptor is not on), and
    /// returns what the run consumed; the ledger starts again.
    pub fn settle(&self, items: &[Item]) -> Units {
        let mut ledger = self.0.lock().expect("the ledger");
        let sizes: HashMap<(String, String), &Item> =
            items.iter().map(|i| (key_of(i), i)).collect();
        for (key, factor, named) in std::mem::take(&mut ledger.updates) {
            let (size, indexes) = match sizes.get(&key) {
                Some(item) => (item_size(item), indexes_of(item).max(named)),
                None => (1024, named),
            };
            ledger.units.write += factor * write_units(size) * (1 + indexes) as f64;
        }
        std::mem::take(&mut ledger.units)
    }

    fn add(&self, f: impl FnOnce(&mut Ledger)) {
        f(&mut self.0.lock().expect("the ledger"));
    }
}

impl Intercept for Capacity {
    fn name(&self) -> &'static str {
        "Capacity"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let input = context.input();
        let put = |item: &Item, factor: f64| {
            factor * write_units(item_size(item)) * (1 + indexes_of(item)) as f64
        };
        self.add(|l| {
            if let Some(p) = input.downcast_ref::<PutItemInput>() {
                l.units.calls += 1;
                l.units.write += p.item().map_or(1.0, |i| put(i, 1.0));
            } else if let Some(u) = input.downcast_ref::<UpdateItemInput>() {
                l.units.calls += 1;
                let named = indexes_named(u.update_expression());
                l.updates
                    .push((u.key().map(key_of).unwrap_or_default(), 1.0, named));
            } else if input.downcast_ref::<DeleteItemInput>().is_some() {
                l.units.calls += 1;
                l.units.write += 1.0;
            } else if let Some(t) = input.downcast_ref::<TransactWriteItemsInput>() {
                l.units.calls += 1;
                for item in t.transact_items() {
                    if let Some(p) = item.put() {
                        l.units.write += put(p.item(), 2.0);
                    }
                    if let Some(u) = item.update() {
                        let named = indexes_named(Some(u.update_expression()));
                        l.updates.push((key_of(u.key()), 2.0, named));
                    }
                    if item.delete().is_some() || item.condition_check().is_some() {
                        l.units.write += 2.0;
                    }
                }
            }
        });
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let Some(Ok(output)) = context.output_or_error() else {
            return Ok(());
        };
        // The input is serialized by now: its `ConsistentRead` is in the body.
        let consistent = context
            .request()
            .and_then(|r| r.body().bytes())
            .is_some_and(|body| {
                String::from_utf8_lossy(body)
                    .replace(' ', "")
                    .contains("\"ConsistentRead\":true")
            });
        let units = if let Some(out) = output.downcast_ref::<GetItemOutput>() {
            Some(read_units(out.item().map_or(0, item_size), consistent))
        } else if let Some(out) = output.downcast_ref::<QueryOutput>() {
            Some(read_units(
                out.items().iter().map(item_size).sum(),
                consistent,
            ))
        } else if let Some(out) = output.downcast_ref::<ScanOutput>() {
            Some(read_units(
                out.items().iter().map(item_size).sum(),
                consistent,
            ))
        } else {
            output.downcast_ref::<BatchGetItemOutput>().map(|out| {
                out.responses()
                    .into_iter()
                    .flat_map(|r| r.values())
                    .flatten()
                    .map(|i| read_units(item_size(i), consistent))
                    .sum()
            })
        };
        if let Some(units) = units {
            self.add(|l| {
                l.units.calls += 1;
                l.units.read += units;
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_dynamodbs_rules() {
        let item: Item = [
            ("pk".to_owned(), AttributeValue::S("PERSON#1".into())),
            ("n".to_owned(), AttributeValue::N("12345".into())),
            ("ok".to_owned(), AttributeValue::Bool(true)),
        ]
        .into_iter()
        .collect();
        // 2 + 8, 1 + (5 digits: 3 + 1), 2 + 1
        assert_eq!(item_size(&item), 10 + 5 + 3);
        assert_eq!(write_units(1024), 1.0);
        assert_eq!(write_units(1025), 2.0);
        assert_eq!(read_units(4097, true), 2.0);
        assert_eq!(read_units(10, false), 0.5);
    }
}
