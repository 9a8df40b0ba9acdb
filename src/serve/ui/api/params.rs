//! Reading a request: the JSON body and the query string as one set of parameters, with
//! MLflow's messages for a missing or mistyped one.

use serde_json::{Map, Value};

use crate::tracking::{Code, TResult, TrackingError, invalid, percent_decode};

/// A request's parameters: the JSON body, with the query string's keys added.
pub struct Params<'a> {
    /// The body's object, or one object inside it (borrowed: a log-batch's thousand metrics
    /// are read in place, not copied).
    v: std::borrow::Cow<'a, Map<String, Value>>,
}

pub(super) fn missing(k: &str) -> TrackingError {
    invalid(format!(
        "Missing value for required parameter '{k}'. See the API docs for more information about request parameters."
    ))
}

pub(super) fn bad_type(k: &str, want: &str, got: &Value) -> TrackingError {
    invalid(format!(
        "Invalid value {got} for parameter '{k}' supplied: expected {want}"
    ))
}

/// Parses `a=1&b=x%20y&b=z` (repeated keys become arrays).
pub fn parse_query(q: &str) -> Map<String, Value> {
    let mut m = Map::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(&k.replace('+', " "));
        let v = Value::String(percent_decode(&v.replace('+', " ")));
        match m.get_mut(&k) {
            Some(Value::Array(a)) => a.push(v),
            Some(old) => {
                let first = old.take();
                *old = Value::Array(vec![first, v]);
            }
            None => {
                m.insert(k, v);
            }
        }
    }
    m
}

impl Params<'_> {
    pub fn new(body: &[u8], query: Option<&str>) -> TResult<Params<'static>> {
        let mut v = if body.iter().all(|b| b.is_ascii_whitespace()) {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(invalid("Malformed request: the body must be a JSON object")),
                Err(e) => {
                    return Err(TrackingError {
                        code: Code::BadRequest,
                        message: format!("Malformed request: the body is not valid JSON ({e})"),
                    });
                }
            }
        };
        if let Some(q) = query {
            for (k, x) in parse_query(q) {
                v.entry(k).or_insert(x);
            }
        }
        Ok(Params {
            v: std::borrow::Cow::Owned(v),
        })
    }

    pub(super) fn get(&self, k: &str) -> Option<&Value> {
        self.v.get(k).filter(|x| !x.is_null())
    }

    pub fn opt_str(&self, k: &str) -> TResult<Option<String>> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
                Ok(a[0].as_str().map(str::to_string))
            }
            Some(o) => Err(bad_type(k, "a string", o)),
        }
    }

    pub fn str(&self, k: &str) -> TResult<String> {
        self.opt_str(k)?.ok_or_else(|| missing(k))
    }

    /// A required string that may not be empty.
    pub fn nonempty(&self, k: &str) -> TResult<String> {
        let s = self.str(k)?;
        if s.is_empty() {
            return Err(missing(k));
        }
        Ok(s)
    }

    pub fn opt_i64(&self, k: &str) -> TResult<Option<i64>> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| bad_type(k, "an integer", &Value::Number(n.clone()))),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| bad_type(k, "an integer", &Value::String(s.clone()))),
            Some(o) => Err(bad_type(k, "an integer", o)),
        }
    }

    pub fn f64(&self, k: &str) -> TResult<f64> {
        match self.get(k) {
            None => Err(missing(k)),
            Some(Value::Number(n)) => n.as_f64().ok_or_else(|| missing(k)),
            Some(Value::String(s)) => match s.as_str() {
                "NaN" | "nan" => Ok(f64::NAN),
                "Infinity" | "inf" => Ok(f64::INFINITY),
                "-Infinity" | "-inf" => Ok(f64::NEG_INFINITY),
                t => t
                    .parse()
                    .map_err(|_| bad_type(k, "a number", &Value::String(s.clone()))),
            },
            Some(o) => Err(bad_type(k, "a number", o)),
        }
    }

    pub fn bool(&self, k: &str) -> TResult<bool> {
        match self.get(k) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) => Ok(s.eq_ignore_ascii_case("true")),
            Some(o) => Err(bad_type(k, "a boolean", o)),
        }
    }

    pub fn strs(&self, k: &str) -> TResult<Vec<String>> {
        match self.get(k) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| match x {
                    Value::String(s) => Ok(s.clone()),
                    o => Err(bad_type(k, "a list of strings", o)),
                })
                .collect(),
            Some(o) => Err(bad_type(k, "a list of strings", o)),
        }
    }

    pub fn objs(&self, k: &str) -> TResult<Vec<Params<'_>>> {
        match self.get(k) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| match x {
                    Value::Object(m) => Ok(Params {
                        v: std::borrow::Cow::Borrowed(m),
                    }),
                    o => Err(bad_type(k, "a list of objects", o)),
                })
                .collect(),
            Some(o) => Err(bad_type(k, "a list of objects", o)),
        }
    }

    /// `[{"key": k, "value": v}]` → map.
    pub fn kv(&self, k: &str) -> TResult<Vec<(String, String)>> {
        let mut out = Vec::new();
        for t in self.objs(k)? {
            let key = t.str("key")?;
            let value = t.opt_str("value")?.unwrap_or_default();
            out.push((key, value));
        }
        Ok(out)
    }

    pub fn max_results(&self, default: usize) -> TResult<usize> {
        match self.opt_i64("max_results")? {
            None => Ok(default),
            Some(n) if n <= 0 => Err(invalid(format!(
                "Invalid value {n} for parameter 'max_results' supplied. It must be a positive integer"
            ))),
            Some(n) => Ok(n as usize),
        }
    }
}
