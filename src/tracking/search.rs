//! Searching runs and experiments with MLflow's filter syntax, `order_by` and page tokens.

use std::cmp::Ordering;

use super::filter::{self, Cond, Entity, Field, Order};
use super::{Experiment, Run, TResult, Tracking, ViewType, invalid};

/// The most results one page may hold (MLflow's SEARCH_MAX_RESULTS_THRESHOLD).
pub const MAX_RESULTS: usize = 50_000;

/// A page token is the offset of the next result, as text.
pub fn parse_token(t: Option<&str>) -> TResult<usize> {
    match t {
        None | Some("") => Ok(0),
        Some(t) => t.parse().map_err(|_| {
            invalid(format!(
                "Invalid page token '{t}': pass the next_page_token of the previous page"
            ))
        }),
    }
}

pub fn page<T>(
    items: Vec<T>,
    max: usize,
    token: Option<&str>,
) -> TResult<(Vec<T>, Option<String>)> {
    let off = parse_token(token)?;
    let total = items.len();
    let out: Vec<T> = items.into_iter().skip(off).take(max).collect();
    let next = (off + out.len() < total).then(|| (off + out.len()).to_string());
    Ok((out, next))
}

pub fn check_max(max: usize, limit: usize) -> TResult<()> {
    if max == 0 || max > limit {
        return Err(invalid(format!(
            "Invalid value {max} for parameter 'max_results' supplied. It must be a positive integer at most {limit}"
        )));
    }
    Ok(())
}

/// What a run holds for `entity.key`.
pub fn run_field(r: &Run, artifact_uri: &str, e: Entity, key: &str) -> Option<Field> {
    match e {
        Entity::Metric => r.metrics.get(key).map(|m| Field::Num(m.value)),
        Entity::Param => r.params.get(key).map(|v| Field::Str(v.clone())),
        Entity::Tag => r.tags.get(key).map(|v| Field::Str(v.clone())),
        Entity::Attr => match key {
            "run_id" | "run_uuid" | "id" => Some(Field::Str(r.id.clone())),
            "run_name" | "name" => Some(Field::Str(r.name.clone())),
            "status" => Some(Field::Str(r.status.clone())),
            "user_id" => Some(Field::Str(r.user_id.clone())),
            "artifact_uri" => Some(Field::Str(artifact_uri.to_string())),
            "experiment_id" => Some(Field::Str(r.experiment_id.clone())),
            "lifecycle_stage" => Some(Field::Str(r.lifecycle.clone())),
            "start_time" | "created" | "Created" => Some(Field::Num(r.start_ms as f64)),
            "end_time" => r.end_ms.map(|t| Field::Num(t as f64)),
            _ => None,
        },
        Entity::Dataset => {
            let k = match key {
                "name" | "digest" | "context" => key,
                _ => return None,
            };
            // The first dataset input's field (MLflow matches any; good enough for one).
            r.inputs.iter().find_map(|i| {
                if k == "context" {
                    i.get("tags")?.as_array()?.iter().find_map(|t| {
                        if t.get("key")?.as_str()? == "mlflow.data.context" {
                            Some(Field::Str(t.get("value")?.as_str()?.to_string()))
                        } else {
                            None
                        }
                    })
                } else {
                    Some(Field::Str(i.get("dataset")?.get(k)?.as_str()?.to_string()))
                }
            })
        }
    }
}

const RUN_ATTRS: &[&str] = &[
    "run_id",
    "run_uuid",
    "id",
    "run_name",
    "name",
    "status",
    "user_id",
    "artifact_uri",
    "experiment_id",
    "lifecycle_stage",
    "start_time",
    "created",
    "Created",
    "end_time",
];

fn check_run_conds(conds: &[Cond]) -> TResult<()> {
    for c in conds {
        if c.entity == Entity::Attr && !RUN_ATTRS.contains(&c.key.as_str()) {
            return Err(invalid(format!(
                "Invalid attribute key '{}' specified. Valid keys are '{:?}'",
                c.key,
                [
                    "run_id",
                    "run_name",
                    "status",
                    "user_id",
                    "artifact_uri",
                    "start_time",
                    "end_time",
                    "created"
                ]
            )));
        }
    }
    Ok(())
}

fn run_orders(order_by: &[String]) -> TResult<Vec<Order>> {
    let mut out = Vec::new();
    for o in order_by {
        let o = filter::parse_order(o).map_err(invalid)?;
        if o.entity == Entity::Attr && !RUN_ATTRS.contains(&o.key.as_str()) {
            return Err(invalid(format!(
                "Invalid order_by key 'attributes.{}'",
                o.key
            )));
        }
        out.push(o);
    }
    Ok(out)
}

impl Tracking {
    pub fn search_runs(
        &self,
        experiment_ids: &[String],
        filter_s: &str,
        view: ViewType,
        max: usize,
        order_by: &[String],
        token: Option<&str>,
    ) -> TResult<(Vec<Run>, Option<String>)> {
        check_max(max, MAX_RESULTS)?;
        let conds = filter::parse(filter_s).map_err(invalid)?;
        check_run_conds(&conds)?;
        let orders = run_orders(order_by)?;
        let s = self.state()?;
        let by_start = !orders.iter().any(|o| o.key == "start_time");
        let rows = filter::select(
            s.runs
                .values()
                .filter(|r| experiment_ids.contains(&r.experiment_id) && view.sees(&r.lifecycle))
                .map(|r| (r, s.artifact_uri(&r.id))),
            &conds,
            &orders,
            |(r, uri): &(&Run, String), e, k| run_field(r, uri, e, k),
            filter::matches,
            // MLflow's default and tie-break: newest start first, then run id.
            |(a, _), (b, _)| {
                let c = if by_start {
                    b.start_ms.cmp(&a.start_ms)
                } else {
                    Ordering::Equal
                };
                c.then_with(|| a.id.cmp(&b.id))
            },
        );
        let rows: Vec<Run> = rows.into_iter().map(|(r, _)| r.clone()).collect();
        page(rows, max, token)
    }

    pub fn search_experiments(
        &self,
        view: ViewType,
        filter_s: &str,
        order_by: &[String],
        max: usize,
        token: Option<&str>,
    ) -> TResult<(Vec<Experiment>, Option<String>)> {
        check_max(max, MAX_RESULTS)?;
        let conds = filter::parse(filter_s).map_err(invalid)?;
        let field = |e: &Experiment, ent: Entity, key: &str| -> TResult<Option<Field>> {
            Ok(match ent {
                Entity::Tag => e.tags.get(key).map(|v| Field::Str(v.clone())),
                Entity::Attr => match key {
                    "name" => Some(Field::Str(e.name.clone())),
                    "experiment_id" => Some(Field::Str(e.id.clone())),
                    "creation_time" => Some(Field::Num(e.created_ms as f64)),
                    "last_update_time" => Some(Field::Num(e.updated_ms as f64)),
                    k => {
                        return Err(invalid(format!(
                            "Invalid attribute key '{k}' specified. Valid keys are '['name', 'creation_time', 'last_update_time']'"
                        )));
                    }
                },
                _ => {
                    return Err(invalid(format!(
                        "Invalid entity type for an experiment search: {key}"
                    )));
                }
            })
        };
        let mut orders = Vec::new();
        for o in order_by {
            let o = filter::parse_order(o).map_err(invalid)?;
            if o.entity != Entity::Attr
                || !["name", "experiment_id", "creation_time", "last_update_time"]
                    .contains(&o.key.as_str())
            {
                return Err(invalid(format!("Invalid order_by entity: {}", o.key)));
            }
            orders.push(o);
        }
        let s = self.state()?;
        let mut rows = Vec::new();
        for e in s.experiments.values().filter(|e| view.sees(&e.lifecycle)) {
            let mut ok = true;
            for c in &conds {
                if !filter::matches(c, field(e, c.entity, &c.key)?.as_ref()) {
                    ok = false;
                    break;
                }
            }
            if ok {
                rows.push(e.clone());
            }
        }
        let id_num = |e: &Experiment| e.id.parse::<i64>().unwrap_or(i64::MAX);
        rows.sort_by(|a, b| {
            for o in &orders {
                let c = if o.key == "experiment_id" {
                    let c = id_num(a).cmp(&id_num(b)).then_with(|| a.id.cmp(&b.id));
                    if o.asc { c } else { c.reverse() }
                } else {
                    let x = field(a, o.entity, &o.key).ok().flatten();
                    let y = field(b, o.entity, &o.key).ok().flatten();
                    filter::cmp_fields(x.as_ref(), y.as_ref(), o.asc)
                };
                if c != Ordering::Equal {
                    return c;
                }
            }
            b.created_ms
                .cmp(&a.created_ms)
                .then_with(|| id_num(b).cmp(&id_num(a)))
        });
        page(rows, max, token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages() {
        let (a, t) = page((0..5).collect::<Vec<_>>(), 2, None).unwrap();
        assert_eq!((a, t.as_deref()), (vec![0, 1], Some("2")));
        let (a, t) = page((0..5).collect::<Vec<_>>(), 2, Some("4")).unwrap();
        assert_eq!((a, t), (vec![4], None));
        assert!(page((0..5).collect::<Vec<_>>(), 2, Some("x")).is_err());
    }
}
