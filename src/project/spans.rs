//! Where a key of a TOML file is, from the parser's spans (`toml::de::DeValue`), not from
//! scanning lines: every config error names file:line:col the way the parser sees the file.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A child of a table by key: the key's start and the value.
fn child<'a, 'i>(t: &'a DeTable<'i>, k: &str) -> Option<(usize, &'a Spanned<DeValue<'i>>)> {
    t.iter()
        .find(|(key, _)| key.get_ref().as_ref() == k)
        .map(|(key, v)| (key.span().start, v))
}

/// One step of a key path: a table key or an array index (`stages[3].with.dataset` is
/// `[Key("stages"), Index(3), Key("with"), Key("dataset")]`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// 1-based (line, column) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The (line, column) of the key at `path` (where its name starts); of the deepest part of the
/// path that exists when the rest does not; `None` when the text does not parse or not even
/// the first step exists.
pub fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let root = DeTable::parse(text).ok()?;
    let (first, rest) = path.split_first()?;
    let Seg::Key(k) = first else {
        return None;
    };
    let (at, mut cur) = child(root.get_ref(), k)?;
    let mut found = Some(at);
    for seg in rest {
        let next = match (seg, cur.get_ref()) {
            (Seg::Key(k), DeValue::Table(t)) => child(t, k),
            (Seg::Index(i), DeValue::Array(a)) => a.get(*i).map(|v| (v.span().start, v)),
            _ => None,
        };
        match next {
            Some((at, v)) => {
                found = Some(at);
                cur = v;
            }
            None => break,
        }
    }
    found.map(|at| line_col(text, at))
}

/// The dotted key (`rules.r.window`, `stages[2].with.dataset`) whose value holds byte
/// `offset`: what a serde error's span points into, named for the message. The deepest such
/// key; tables are searched whatever their own span (a `[a.b]` header's parent has none).
pub fn key_at(text: &str, offset: usize) -> Option<String> {
    let root = DeTable::parse(text).ok()?;
    deepest_in_table(root.get_ref(), offset, "")
}

fn deepest_in_table(t: &DeTable, offset: usize, prefix: &str) -> Option<String> {
    for (k, v) in t.iter() {
        let name = if prefix.is_empty() {
            k.get_ref().to_string()
        } else {
            format!("{prefix}.{}", k.get_ref())
        };
        if let Some(deeper) = deepest_in_value(v, offset, &name) {
            return Some(deeper);
        }
        if k.span().contains(&offset) || v.span().contains(&offset) {
            return Some(name);
        }
    }
    None
}

fn deepest_in_value(v: &Spanned<DeValue>, offset: usize, name: &str) -> Option<String> {
    match v.get_ref() {
        DeValue::Table(t) => deepest_in_table(t, offset, name),
        DeValue::Array(a) => a.iter().enumerate().find_map(|(i, e)| {
            let n = format!("{name}[{i}]");
            deepest_in_value(e, offset, &n).or_else(|| e.span().contains(&offset).then_some(n))
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[drift]\nreference = \"t\"\n\n[rules.r]\nmetric = \"drift\"\n  window = \"1h\"\n\n[[stages]]\nname = \"a\"\n[[stages]]\nname = \"b\"\nwith = { dataset = 3 }\n";

    #[test]
    fn keys_are_located_by_the_parser() {
        use Seg::*;
        assert_eq!(
            locate(TEXT, &[Key("drift"), Key("reference")]),
            Some((2, 1))
        );
        assert_eq!(
            locate(TEXT, &[Key("rules"), Key("r"), Key("window")]),
            Some((6, 3))
        );
        assert_eq!(
            locate(
                TEXT,
                &[Key("stages"), Index(1), Key("with"), Key("dataset")]
            ),
            Some((12, 10))
        );
        // A missing key: the deepest part that exists.
        assert_eq!(
            locate(TEXT, &[Key("stages"), Index(1), Key("name")]),
            Some((11, 1))
        );
        assert_eq!(locate(TEXT, &[Key("nope")]), None);
        assert_eq!(locate("= broken", &[Key("x")]), None);
    }

    #[test]
    fn the_key_holding_an_offset_is_named() {
        let at = TEXT.find("\"1h\"").unwrap();
        assert_eq!(key_at(TEXT, at).as_deref(), Some("rules.r.window"));
        let at = TEXT.find("3 }").unwrap();
        assert_eq!(key_at(TEXT, at).as_deref(), Some("stages[1].with.dataset"));
    }
}
