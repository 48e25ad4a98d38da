//! `report.md`.

use std::fmt::Write as _;

use crate::table::{Block, Cell, Table};

pub(crate) fn render_md(blocks: &[Block]) -> String {
    let mut md = String::new();
    for b in blocks {
        match b {
            Block::Heading(level, text) => {
                let _ = writeln!(md, "{} {text}\n", "#".repeat(*level));
            }
            Block::Para(text) => {
                let _ = writeln!(md, "{text}\n");
            }
            Block::List(items) => {
                for i in items {
                    let _ = writeln!(md, "- {}", i.replace('\n', "\n  - "));
                }
                md.push('\n');
            }
            Block::Table(t) => table(&mut md, t),
            Block::Figure { path, caption, .. } => {
                let alt = path.trim_start_matches("figures/").trim_end_matches(".svg");
                let _ = writeln!(md, "![{alt}]({path})\n\n{caption}\n");
            }
        }
    }
    md
}

fn table(md: &mut String, t: &Table) {
    let _ = writeln!(md, "| {} |", t.header.join(" | "));
    let _ = writeln!(md, "|---|{}", "---:|".repeat(t.header.len() - 1));
    for (name, row) in &t.rows {
        let _ = write!(md, "| {name} |");
        match row {
            Err(msg) => {
                let _ = write!(md, " {} |", msg.replace('|', "/"));
            }
            Ok(cells) => {
                for c in cells {
                    match c {
                        Cell::Text(t) => {
                            let _ = write!(md, " {t} |");
                        }
                        Cell::Value { text, best, within } => {
                            let dagger = if *within { "†" } else { "" };
                            if *best {
                                let _ = write!(md, " **{text}**{dagger} |");
                            } else {
                                let _ = write!(md, " {text}{dagger} |");
                            }
                        }
                    }
                }
            }
        }
        md.push('\n');
    }
    md.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_nest_continuation_lines_and_figures_link_their_file() {
        let md = render_md(&[
            Block::Heading(2, "`s`".into()),
            Block::List(vec!["(1) a\n(1b) b".into()]),
            Block::Figure {
                path: "figures/s-da.svg".into(),
                svg: "<svg/>".into(),
                caption: "c".into(),
            },
        ]);
        assert_eq!(
            md,
            "## `s`\n\n- (1) a\n  - (1b) b\n\n![s-da](figures/s-da.svg)\n\nc\n\n"
        );
    }
}
