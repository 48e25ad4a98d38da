//! `report.html`: self-contained, the figures inlined, the style sheet inline.

use std::fmt::Write as _;

use crate::table::{Block, Cell, Table};

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#1e1e1e;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:0.92em}
th,td{border:1px solid #ccc;padding:0.3em 0.6em}
th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.best{background:#e6f4e6;font-weight:bold}
td.failed{color:#a00}
tr:first-child td{border-top:2px solid #888}
code{background:#f4f4f4;padding:0 0.2em;border-radius:3px}
figure{margin:1.5em 0;overflow-x:auto}
figure svg{max-width:100%;height:auto}
figcaption{font-style:italic;color:#444}
.verdict-supported{color:#1a7f37;font-weight:bold}
.verdict-not{color:#b3261e;font-weight:bold}
li{margin:0.4em 0}";

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// HTML of a Markdown-ish inline string: escapes it, then `code` and **bold**.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(s).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            for (j, p) in part.split("**").enumerate() {
                if j % 2 == 1 {
                    let _ = write!(out, "<strong>{p}</strong>");
                } else {
                    out.push_str(p);
                }
            }
        }
    }
    out
}

pub(crate) fn render_html(title: &str, blocks: &[Block]) -> String {
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n{CSS}\n</style>\n</head>\n<body>\n",
        escape(title)
    );
    for b in blocks {
        match b {
            Block::Heading(level, text) => {
                let _ = writeln!(h, "<h{level}>{}</h{level}>", inline(text));
            }
            Block::Para(text) => {
                let _ = writeln!(h, "<p>{}</p>", inline(text));
            }
            Block::List(items) => list(&mut h, items),
            Block::Table(t) => table(&mut h, t),
            Block::Figure { svg, caption, .. } => {
                let _ = writeln!(
                    h,
                    "<figure>\n{svg}\n<figcaption>{}</figcaption>\n</figure>",
                    inline(caption)
                );
            }
        }
    }
    h.push_str("</body>\n</html>\n");
    h
}

/// A list; an item's further lines become a nested list, verdicts are coloured.
fn list(h: &mut String, items: &[String]) {
    h.push_str("<ul>\n");
    for i in items {
        let mut lines = i.split('\n');
        let mut body = inline(lines.next().unwrap_or(""));
        let rest: Vec<String> = lines.map(|l| format!("<li>{}</li>", inline(l))).collect();
        if !rest.is_empty() {
            let _ = write!(body, "<ul>{}</ul>", rest.concat());
        }
        let body = body
            .replace(
                "<strong>not supported</strong>",
                "<span class=\"verdict-not\">not supported</span>",
            )
            .replace(
                "<strong>supported</strong>",
                "<span class=\"verdict-supported\">supported</span>",
            );
        let _ = writeln!(h, "<li>{body}</li>");
    }
    h.push_str("</ul>\n");
}

fn table(h: &mut String, t: &Table) {
    h.push_str("<table>\n<thead><tr>");
    for c in &t.header {
        let _ = write!(h, "<th>{}</th>", escape(c));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for (name, row) in &t.rows {
        let _ = write!(h, "<tr><td>{}</td>", escape(name));
        match row {
            Err(msg) => {
                let _ = write!(
                    h,
                    "<td class=\"failed\" colspan=\"{}\">{}</td>",
                    t.header.len() - 1,
                    escape(msg)
                );
            }
            Ok(cells) => {
                for c in cells {
                    match c {
                        Cell::Text(t) => {
                            let _ = write!(h, "<td class=\"num\">{}</td>", escape(t));
                        }
                        Cell::Value { text, best, within } => {
                            let class = if *best { "num best" } else { "num" };
                            let dagger = if *within { "†" } else { "" };
                            let _ =
                                write!(h, "<td class=\"{class}\">{}{dagger}</td>", escape(text));
                        }
                    }
                }
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_self_contained_and_escapes_text() {
        let html = render_html(
            "t",
            &[
                Block::Para("a <b> & `code` **bold**".into()),
                Block::List(vec![
                    "x: **supported**".into(),
                    "y: **not supported**".into(),
                ]),
            ],
        );
        assert!(html.contains("a &lt;b&gt; &amp; <code>code</code> <strong>bold</strong>"));
        assert!(html.contains("verdict-supported") && html.contains("verdict-not"));
        assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<link"));
    }
}
