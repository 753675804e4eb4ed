//! A table as data (headers, alignment, rows), rendered to Markdown (padded, so it also reads as
//! plain text) or to HTML: the Markdown summary and the HTML page show the same tables.

use std::fmt::Write as _;

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// A table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column headers.
    pub headers: Vec<String>,
    /// Alignment of each column.
    pub align: Vec<Align>,
    /// Cells, row by row.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns (header, alignment) and no rows.
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Table {
            headers: columns.iter().map(|(h, _)| (*h).to_owned()).collect(),
            align: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    /// A Markdown table with every column padded to its widest cell.
    pub fn to_markdown(&self) -> String {
        let cell = |s: &str| s.replace('|', "\\|");
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell(c).chars().count());
            }
        }
        let pad = |s: &str, w: usize, a: Align| {
            let n = w.saturating_sub(s.chars().count());
            match a {
                Align::Left => format!("{s}{}", " ".repeat(n)),
                Align::Right => format!("{}{s}", " ".repeat(n)),
            }
        };
        let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
        let mut out = line(
            self.headers
                .iter()
                .zip(&widths)
                .zip(&self.align)
                .map(|((h, &w), &a)| pad(h, w, a))
                .collect(),
        );
        out.push_str(&line(
            widths
                .iter()
                .zip(&self.align)
                .map(|(&w, a)| match a {
                    Align::Left => "-".repeat(w.max(1)),
                    Align::Right => format!("{}:", "-".repeat(w.max(2) - 1)),
                })
                .collect(),
        ));
        for row in &self.rows {
            out.push_str(&line(
                row.iter()
                    .zip(&widths)
                    .zip(&self.align)
                    .map(|((c, &w), &a)| pad(&cell(c), w, a))
                    .collect(),
            ));
        }
        out
    }

    /// An HTML `<table>`, every cell escaped.
    pub fn to_html(&self) -> String {
        let class = |a: Align| match a {
            Align::Left => "",
            Align::Right => " class=\"num\"",
        };
        let mut out = String::from("<table>\n<thead><tr>");
        for (h, &a) in self.headers.iter().zip(&self.align) {
            let _ = write!(out, "<th{}>{}</th>", class(a), escape(h));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in &self.rows {
            out.push_str("<tr>");
            for (c, &a) in row.iter().zip(&self.align) {
                let _ = write!(out, "<td{}>{}</td>", class(a), escape(c));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
        out
    }
}

/// Text made safe inside HTML elements and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_cells_are_escaped() {
        let mut t = Table::new(&[("a", Align::Left), ("b", Align::Right)]);
        t.rows.push(vec!["<x> & y".to_owned(), "1".to_owned()]);
        let html = t.to_html();
        assert!(html.contains("<td>&lt;x&gt; &amp; y</td>"), "{html}");
        assert!(html.contains("<td class=\"num\">1</td>"), "{html}");
    }

    #[test]
    fn markdown_pads_and_escapes_pipes() {
        let mut t = Table::new(&[("name", Align::Left), ("n", Align::Right)]);
        t.rows.push(vec!["a|b".to_owned(), "10".to_owned()]);
        assert_eq!(
            t.to_markdown(),
            "| name |  n |\n| ---- | -: |\n| a\\|b | 10 |\n"
        );
    }
}
