//! MLflow's search syntax: filters (`metrics.acc > 0.9 and params.lr = '0.01' and tags.t LIKE
//! 'a%' and attributes.status = 'FINISHED'`) and `order_by` clauses (`metrics.acc DESC`).
//! Parsing only, plus the comparison of one value; what an entity's key holds is the caller's.

use std::cmp::Ordering;

/// What a clause looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entity {
    Metric,
    Param,
    Tag,
    Attr,
    Dataset,
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
    ILike,
    In,
    NotIn,
    IsNull,
    IsNotNull,
}

/// A literal on the right of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Str(String),
    Num(f64),
    List(Vec<String>),
    None,
}

/// One `entity.key OP value` clause.
#[derive(Clone, Debug, PartialEq)]
pub struct Cond {
    pub entity: Entity,
    pub key: String,
    pub op: Op,
    pub value: Lit,
}

/// What an entity's key holds for one row.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    Num(f64),
    Str(String),
}

/// One `order_by` clause.
#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    pub entity: Entity,
    pub key: String,
    pub asc: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Quoted(String),
    Num(f64),
    Op(String),
    LParen,
    RParen,
    Comma,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' || c == '`' {
            let q = c;
            let mut v = String::new();
            i += 1;
            loop {
                if i >= cs.len() {
                    return Err(format!("unterminated quoted string in `{s}`"));
                }
                if cs[i] == q {
                    if i + 1 < cs.len() && cs[i + 1] == q && q != '`' {
                        v.push(q);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                if cs[i] == '\\' && i + 1 < cs.len() && cs[i + 1] == q {
                    v.push(q);
                    i += 2;
                    continue;
                }
                v.push(cs[i]);
                i += 1;
            }
            out.push(if q == '`' {
                Tok::Ident(v)
            } else {
                Tok::Quoted(v)
            });
        } else if c == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if c == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if c == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else if "<>=!".contains(c) {
            let mut o = c.to_string();
            if i + 1 < cs.len() && cs[i + 1] == '=' {
                o.push('=');
                i += 1;
            }
            i += 1;
            if o == "!" {
                return Err(format!("invalid comparator `!` in `{s}`"));
            }
            out.push(Tok::Op(o));
        } else if c.is_ascii_digit() || ((c == '-' || c == '+' || c == '.') && i + 1 < cs.len()) {
            let start = i;
            i += 1;
            while i < cs.len()
                && (cs[i].is_ascii_alphanumeric() || cs[i] == '.' || cs[i] == '-' || cs[i] == '+')
            {
                if (cs[i] == '-' || cs[i] == '+') && !matches!(cs[i - 1], 'e' | 'E') {
                    break;
                }
                i += 1;
            }
            let t: String = cs[start..i].iter().collect();
            let v: f64 = t
                .parse()
                .map_err(|_| format!("invalid number `{t}` in `{s}`"))?;
            out.push(Tok::Num(v));
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < cs.len()
                && (cs[i].is_alphanumeric() || "_.-:/".contains(cs[i]))
                && !(cs[i] == '.' && i + 1 < cs.len() && "`\"'".contains(cs[i + 1]))
            {
                i += 1;
            }
            let mut t: String = cs[start..i].iter().collect();
            // `metrics.`a b`` / `tags."x"`: the entity, then a quoted key.
            if i < cs.len() && cs[i] == '.' {
                t.push('.');
                i += 1;
                let q = cs[i];
                let mut v = String::new();
                i += 1;
                while i < cs.len() && cs[i] != q {
                    v.push(cs[i]);
                    i += 1;
                }
                if i >= cs.len() {
                    return Err(format!("unterminated quoted key in `{s}`"));
                }
                i += 1;
                t.push_str(&v);
                out.push(Tok::Ident(format!("\u{0}{t}")));
                continue;
            }
            out.push(Tok::Ident(t));
        } else {
            return Err(format!("unexpected character `{c}` in `{s}`"));
        }
    }
    Ok(out)
}

/// `metrics.acc` → (Metric, "acc"). A bare key is an attribute.
fn entity_key(ident: &str) -> Result<(Entity, String), String> {
    let ident = ident.strip_prefix('\u{0}').unwrap_or(ident);
    let (e, k) = match ident.split_once('.') {
        Some((e, k)) => (e, k),
        None => return Ok((Entity::Attr, ident.to_string())),
    };
    let entity = match e.to_ascii_lowercase().as_str() {
        "metric" | "metrics" => Entity::Metric,
        "param" | "params" | "parameter" | "parameters" => Entity::Param,
        "tag" | "tags" => Entity::Tag,
        "attribute" | "attributes" | "attr" | "run" => Entity::Attr,
        "dataset" | "datasets" => Entity::Dataset,
        _ => {
            return Err(format!(
                "Invalid entity type '{e}'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"
            ));
        }
    };
    if k.is_empty() {
        return Err(format!("Invalid identifier '{ident}': the key is empty"));
    }
    Ok((entity, k.to_string()))
}

/// Parses a filter: clauses joined by AND (case-insensitive). Empty → no clause.
pub fn parse(filter: &str) -> Result<Vec<Cond>, String> {
    let toks = tokenize(filter)?;
    let mut out = Vec::new();
    let mut i = 0;
    let bad = |m: &str| format!("Invalid filter '{filter}': {m}");
    while i < toks.len() {
        let Tok::Ident(id) = &toks[i] else {
            return Err(bad("expected an identifier like metrics.acc"));
        };
        let (entity, key) = entity_key(id).map_err(|m| bad(&m))?;
        i += 1;
        let op_tok = toks.get(i).ok_or_else(|| bad("missing comparator"))?;
        let word = |t: &Tok| match t {
            Tok::Ident(s) => Some(s.to_ascii_uppercase()),
            _ => None,
        };
        let op = match op_tok {
            Tok::Op(o) => match o.as_str() {
                "=" | "==" => Op::Eq,
                "!=" | "<>" => Op::Ne,
                ">" => Op::Gt,
                ">=" => Op::Ge,
                "<" => Op::Lt,
                "<=" => Op::Le,
                o => return Err(bad(&format!("invalid comparator `{o}`"))),
            },
            t => match word(t).as_deref() {
                Some("LIKE") => Op::Like,
                Some("ILIKE") => Op::ILike,
                Some("IN") => Op::In,
                Some("IS") => {
                    if toks.get(i + 1).and_then(word).as_deref() == Some("NOT") {
                        i += 1;
                        Op::IsNotNull
                    } else {
                        Op::IsNull
                    }
                }
                Some("NOT") if toks.get(i + 1).and_then(word).as_deref() == Some("IN") => {
                    i += 1;
                    Op::NotIn
                }
                _ => return Err(bad("invalid comparator")),
            },
        };
        i += 1;
        let value = match op {
            Op::IsNull | Op::IsNotNull => {
                if toks.get(i).and_then(word).as_deref() != Some("NULL") {
                    return Err(bad("expected NULL after IS / IS NOT"));
                }
                i += 1;
                Lit::None
            }
            Op::In | Op::NotIn => {
                if toks.get(i) != Some(&Tok::LParen) {
                    return Err(bad("expected a list like ('a', 'b') after IN"));
                }
                i += 1;
                let mut items = Vec::new();
                loop {
                    match toks.get(i) {
                        Some(Tok::Quoted(s)) => items.push(s.clone()),
                        _ => return Err(bad("IN lists hold quoted strings")),
                    }
                    i += 1;
                    match toks.get(i) {
                        Some(Tok::Comma) => i += 1,
                        Some(Tok::RParen) => {
                            i += 1;
                            break;
                        }
                        _ => return Err(bad("unterminated IN list")),
                    }
                }
                Lit::List(items)
            }
            _ => {
                let v = match toks.get(i) {
                    Some(Tok::Quoted(s)) => Lit::Str(s.clone()),
                    Some(Tok::Num(n)) => Lit::Num(*n),
                    _ => return Err(bad("expected a value (a number or a quoted string)")),
                };
                i += 1;
                v
            }
        };
        check_types(entity, &key, op, &value).map_err(|m| bad(&m))?;
        out.push(Cond {
            entity,
            key,
            op,
            value,
        });
        match toks.get(i) {
            None => {}
            Some(t) if word(t).as_deref() == Some("AND") => {
                i += 1;
                if i >= toks.len() {
                    return Err(bad("nothing after AND"));
                }
            }
            Some(t) if word(t).as_deref() == Some("OR") => {
                return Err(bad(
                    "OR is not supported (MLflow's search syntax joins clauses with AND)",
                ));
            }
            _ => return Err(bad("expected AND between clauses")),
        }
    }
    Ok(out)
}

/// Numeric attributes of runs, experiments and models.
pub fn numeric_attr(key: &str) -> bool {
    matches!(
        key,
        "start_time"
            | "end_time"
            | "created"
            | "Created"
            | "creation_time"
            | "creation_timestamp"
            | "last_update_time"
            | "last_updated_timestamp"
            | "version_number"
    )
}

fn check_types(entity: Entity, key: &str, op: Op, v: &Lit) -> Result<(), String> {
    let numeric = entity == Entity::Metric || (entity == Entity::Attr && numeric_attr(key));
    match (numeric, op, v) {
        (_, Op::IsNull | Op::IsNotNull, _) => Ok(()),
        (true, Op::Like | Op::ILike | Op::In | Op::NotIn, _) => Err(format!(
            "comparator {op:?} is not allowed on the numeric key '{key}'"
        )),
        (true, _, Lit::Num(_)) => Ok(()),
        (true, _, _) => Err(format!(
            "expected a numeric value for '{key}', got a string"
        )),
        (false, Op::Gt | Op::Ge | Op::Lt | Op::Le, _) if entity != Entity::Attr => Err(format!(
            "comparator {op:?} is not allowed on the string key '{key}' (use =, !=, LIKE, ILIKE, IN)"
        )),
        (false, _, Lit::Num(_)) => Err(format!(
            "expected a quoted string value for '{key}', e.g. '{key}' = 'value'"
        )),
        _ => Ok(()),
    }
}

/// SQL LIKE: `%` any run, `_` one character.
pub fn like(pattern: &str, s: &str, fold: bool) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = if fold {
        (
            pattern.to_lowercase().chars().collect(),
            s.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), s.chars().collect())
    };
    // Iterative wildcard match with backtracking to the last `%`.
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '%' {
        pi += 1;
    }
    pi == p.len()
}

/// Whether `field` (None when the row lacks the key) satisfies `c`.
pub fn matches(c: &Cond, field: Option<&Field>) -> bool {
    match (c.op, field) {
        (Op::IsNull, f) => f.is_none(),
        (Op::IsNotNull, f) => f.is_some(),
        (_, None) => false,
        (op, Some(Field::Num(x))) => {
            let Lit::Num(v) = c.value else {
                return false;
            };
            match op {
                Op::Eq => *x == v,
                Op::Ne => *x != v,
                Op::Gt => *x > v,
                Op::Ge => *x >= v,
                Op::Lt => *x < v,
                Op::Le => *x <= v,
                _ => false,
            }
        }
        (op, Some(Field::Str(s))) => match (&c.value, op) {
            (Lit::Str(v), Op::Eq) => s == v,
            (Lit::Str(v), Op::Ne) => s != v,
            (Lit::Str(v), Op::Like) => like(v, s, false),
            (Lit::Str(v), Op::ILike) => like(v, s, true),
            (Lit::Str(v), Op::Gt) => s > v,
            (Lit::Str(v), Op::Ge) => s >= v,
            (Lit::Str(v), Op::Lt) => s < v,
            (Lit::Str(v), Op::Le) => s <= v,
            (Lit::List(l), Op::In) => l.contains(s),
            (Lit::List(l), Op::NotIn) => !l.contains(s),
            _ => false,
        },
    }
}

/// Parses one `order_by` clause: `metrics.acc DESC`, `attributes.start_time`, `name ASC`.
pub fn parse_order(s: &str) -> Result<Order, String> {
    let toks = tokenize(s)?;
    let bad = || format!("Invalid order_by clause '{s}'");
    let Some(Tok::Ident(id)) = toks.first() else {
        return Err(bad());
    };
    let (entity, key) = entity_key(id).map_err(|m| format!("{}: {m}", bad()))?;
    let asc = match toks.get(1) {
        None => true,
        Some(Tok::Ident(d)) if d.eq_ignore_ascii_case("asc") => true,
        Some(Tok::Ident(d)) if d.eq_ignore_ascii_case("desc") => false,
        _ => return Err(bad()),
    };
    if toks.len() > 2 {
        return Err(bad());
    }
    Ok(Order { entity, key, asc })
}

/// Parses a comma-separated list of keys in the syntax of a filter's left-hand side
/// (`name,status,params.lr,metrics.val_accuracy,tags."my tag"`): the columns of a listing.
/// Each comes back with its entity, its key and the text it was written as.
pub fn parse_keys(list: &str) -> Result<Vec<(Entity, String, String)>, String> {
    let toks = tokenize(list)?;
    let mut out = Vec::new();
    let mut want_key = true;
    for t in toks {
        match (t, want_key) {
            (Tok::Ident(id), true) => {
                let (entity, key) = entity_key(&id)?;
                let shown = match entity {
                    Entity::Metric => format!("metrics.{key}"),
                    Entity::Param => format!("params.{key}"),
                    Entity::Tag => format!("tags.{key}"),
                    Entity::Dataset => format!("datasets.{key}"),
                    Entity::Attr => key.clone(),
                };
                out.push((entity, key, shown));
                want_key = false;
            }
            (Tok::Comma, false) => want_key = true,
            _ => {
                return Err(format!(
                    "invalid key list `{list}`: give keys separated by commas, like name,status,params.lr,metrics.val_accuracy"
                ));
            }
        }
    }
    if want_key {
        return Err(format!(
            "invalid key list `{list}`: {}",
            if out.is_empty() {
                "it names no key"
            } else {
                "it ends with a comma"
            }
        ));
    }
    Ok(out)
}

/// The rows that satisfy every clause of `conds` (by `matches`, given what `field` says a row
/// holds under an entity's key), ordered by `orders` in turn and then by `tie`: the one
/// filter-and-sort of every search (runs, registered models, versions, `lab runs ls`).
pub fn select<T>(
    rows: impl IntoIterator<Item = T>,
    conds: &[Cond],
    orders: &[Order],
    field: impl Fn(&T, Entity, &str) -> Option<Field>,
    matches: impl Fn(&Cond, Option<&Field>) -> bool,
    tie: impl Fn(&T, &T) -> Ordering,
) -> Vec<T> {
    let mut out: Vec<T> = rows
        .into_iter()
        .filter(|r| {
            conds
                .iter()
                .all(|c| matches(c, field(r, c.entity, &c.key).as_ref()))
        })
        .collect();
    out.sort_by(|a, b| {
        for o in orders {
            let c = cmp_fields(
                field(a, o.entity, &o.key).as_ref(),
                field(b, o.entity, &o.key).as_ref(),
                o.asc,
            );
            if c != Ordering::Equal {
                return c;
            }
        }
        tie(a, b)
    });
    out
}

/// Orders two optional fields: missing last whatever the direction; NaN above every number.
pub fn cmp_fields(a: Option<&Field>, b: Option<&Field>, asc: bool) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => {
            let o = match (x, y) {
                (Field::Num(p), Field::Num(q)) => match (p.is_nan(), q.is_nan()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    _ => p.partial_cmp(q).unwrap_or(Ordering::Equal),
                },
                (Field::Str(p), Field::Str(q)) => p.cmp(q),
                (Field::Num(_), Field::Str(_)) => Ordering::Less,
                (Field::Str(_), Field::Num(_)) => Ordering::Greater,
            };
            if asc { o } else { o.reverse() }
        }
    }
}

#[cfg(test)]
mod tests;
