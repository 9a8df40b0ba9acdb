//! Text tables for the terminal, one way for every verb: each column as wide as its widest
//! cell (header included, counted in characters), two spaces between columns, the columns
//! marked numeric aligned right, no trailing spaces. A cell may be longer than any other:
//! the table widens instead of shifting the rest of its row.

/// A table being filled: a header, then rows of the same number of cells.
#[derive(Clone, Debug, Default)]
pub struct Table {
    header: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles, every column aligned left.
    pub fn new<S: AsRef<str>>(header: impl IntoIterator<Item = S>) -> Table {
        let header: Vec<String> = header.into_iter().map(|h| h.as_ref().to_string()).collect();
        Table {
            right: vec![false; header.len()],
            header,
            rows: Vec::new(),
        }
    }

    /// Aligns the columns at these indices right (numbers).
    pub fn right(mut self, columns: &[usize]) -> Table {
        for &c in columns {
            if let Some(r) = self.right.get_mut(c) {
                *r = true;
            }
        }
        self
    }

    /// Adds a row; missing cells are empty, extra ones are dropped.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut row: Vec<String> = cells
            .into_iter()
            .take(self.header.len())
            .map(Into::into)
            .collect();
        row.resize(self.header.len(), String::new());
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The header and the rows, one line each, without a final newline.
    pub fn render(&self) -> String {
        let n = self.header.len();
        let width = |c: usize| {
            std::iter::once(&self.header[c])
                .chain(self.rows.iter().map(|r| &r[c]))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..n).map(width).collect();
        let line = |cells: &[String]| {
            let mut l = String::new();
            for (c, cell) in cells.iter().enumerate() {
                let pad = widths[c].saturating_sub(cell.chars().count());
                if c > 0 {
                    l.push_str("  ");
                }
                if self.right[c] {
                    l.push_str(&" ".repeat(pad));
                    l.push_str(cell);
                } else {
                    l.push_str(cell);
                    if c + 1 < n {
                        l.push_str(&" ".repeat(pad));
                    }
                }
            }
            l.trim_end().to_string()
        };
        std::iter::once(line(&self.header))
            .chain(self.rows.iter().map(|r| line(r)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn columns_fit_their_widest_cell_and_numbers_align_right() {
        let mut t = Table::new(["NAME", "N", "NOTE"]).right(&[1]);
        t.row(["a", "1", "x"]);
        t.row(["a much longer name", "12345", ""]);
        t.row(["µ×", "7"]);
        assert_eq!(
            t.render(),
            "NAME                    N  NOTE\n\
             a                       1  x\n\
             a much longer name  12345\n\
             µ×                      7"
        );
    }

    #[test]
    fn an_empty_table_is_its_header() {
        let t = Table::new(["A", "B"]);
        assert!(t.is_empty());
        assert_eq!(t.render(), "A  B");
    }
}
