//! Tests of MLflow's filter language (`tracking::filter`): parsing, matching, errors.

use super::*;

#[test]
fn parses_the_issue_example() {
    let c = parse(
        "metrics.x > 0.9 and params.lr = '0.01' and tags.t LIKE 'a%' and attributes.status = 'FINISHED'",
    )
    .unwrap();
    assert_eq!(c.len(), 4);
    assert_eq!((c[0].entity, c[0].op), (Entity::Metric, Op::Gt));
    assert_eq!(c[1].value, Lit::Str("0.01".into()));
    assert_eq!((c[2].entity, c[2].op), (Entity::Tag, Op::Like));
    assert_eq!((c[3].entity, c[3].key.as_str()), (Entity::Attr, "status"));
}

#[test]
fn quoted_keys_lists_and_errors() {
    let c = parse("metrics.`my metric` >= -1e-3 AND tags.\"mlflow.runName\" IN ('a','b')").unwrap();
    assert_eq!(c[0].key, "my metric");
    assert_eq!(c[0].value, Lit::Num(-1e-3));
    assert_eq!(c[1].key, "mlflow.runName");
    assert_eq!(c[1].value, Lit::List(vec!["a".into(), "b".into()]));
    assert!(parse("metrics.x > 'a'").is_err());
    assert!(parse("params.x > 1").is_err());
    assert!(parse("foo.x = 'a'").is_err());
    assert!(parse("metrics.x > 1 or metrics.y < 2").is_err());
    assert!(parse("metrics.x").is_err());
    assert!(parse("").unwrap().is_empty());
}

#[test]
fn like_patterns() {
    assert!(like("a%", "abc", false));
    assert!(like("%b%", "abc", false));
    assert!(like("a_c", "abc", false));
    assert!(!like("A%", "abc", false));
    assert!(like("A%", "abc", true));
    assert!(!like("a", "ab", false));
}

#[test]
fn key_lists() {
    let k =
        parse_keys("name, status,params.lr,metrics.`val acc`,tags.x,attributes.run_id").unwrap();
    let shown: Vec<&str> = k.iter().map(|c| c.2.as_str()).collect();
    assert_eq!(
        shown,
        [
            "name",
            "status",
            "params.lr",
            "metrics.val acc",
            "tags.x",
            "run_id"
        ]
    );
    assert_eq!((k[3].0, k[3].1.as_str()), (Entity::Metric, "val acc"));
    for bad in [
        "",
        "name,",
        ",name",
        "name status",
        "metric.",
        "foo.bar",
        "name,,status",
    ] {
        assert!(parse_keys(bad).is_err(), "{bad}");
    }
}

#[test]
fn order_clauses() {
    let o = parse_order("metrics.acc DESC").unwrap();
    assert_eq!(
        (o.entity, o.key.as_str(), o.asc),
        (Entity::Metric, "acc", false)
    );
    let o = parse_order("start_time").unwrap();
    assert_eq!((o.entity, o.asc), (Entity::Attr, true));
    assert!(parse_order("metrics.acc sideways").is_err());
    let n = Field::Num(f64::NAN);
    let one = Field::Num(1.0);
    assert_eq!(cmp_fields(Some(&n), Some(&one), true), Ordering::Greater);
    assert_eq!(cmp_fields(None, Some(&one), false), Ordering::Greater);
}
