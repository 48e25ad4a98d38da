//! `--image-size`, `--image-column` and `--label-column`: shorthands for the options of an
//! imported data source, folded into every `--data` value before the arguments are parsed.
//!
//! `--data imagefolder:DIR --image-size 32,32` is `--data imagefolder:DIR?size=32,32`: the
//! options belong to the source's name, which split manifests, checkpoints and every step
//! of a study record, so later commands name the same data whether they repeat the flags or
//! the written-out source.

use std::ffi::OsString;

use unlearn_data::{DataSource, ImportOptions};

/// The flags, as `(flag, option key)`.
const FLAGS: [(&str, &str); 3] = [
    ("--image-size", "size"),
    ("--image-column", "image"),
    ("--label-column", "label"),
];

/// Removes the flags from `args` and appends their options to each `--data` value; an
/// error when a flag is given without an imported `--data`, or with a value the source's
/// own options contradict.
pub fn fold_import_flags(args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let mut rest = Vec::with_capacity(args.len());
    let mut options: Vec<(&str, &str, String)> = Vec::new();
    let mut it = args.into_iter().peekable();
    while let Some(arg) = it.next() {
        let text = arg.to_string_lossy().into_owned();
        if text == "--" {
            rest.push(arg);
            rest.extend(it.by_ref());
            break;
        }
        let found = FLAGS.iter().find_map(|(flag, key)| {
            if text == *flag {
                Some((*flag, *key, None))
            } else {
                text.strip_prefix(&format!("{flag}="))
                    .map(|v| (*flag, *key, Some(v.to_string())))
            }
        });
        match found {
            Some((flag, key, Some(value))) => options.push((flag, key, value)),
            Some((flag, key, None)) => {
                let value = it
                    .next()
                    .ok_or_else(|| format!("{flag} needs a value"))?
                    .to_string_lossy()
                    .into_owned();
                options.push((flag, key, value));
            }
            None => rest.push(arg),
        }
    }
    if options.is_empty() {
        return Ok(rest);
    }
    let mut folded = 0;
    let mut out = Vec::with_capacity(rest.len());
    let mut i = 0;
    while i < rest.len() {
        let text = rest[i].to_string_lossy().into_owned();
        let (value, consumed) = if text == "--data" && i + 1 < rest.len() {
            (Some(rest[i + 1].to_string_lossy().into_owned()), 2)
        } else if let Some(v) = text.strip_prefix("--data=") {
            (Some(v.to_string()), 1)
        } else {
            (None, 1)
        };
        match value {
            Some(spec) => {
                out.push(OsString::from("--data"));
                out.push(OsString::from(with_options(&spec, &options)?));
                folded += 1;
            }
            None => out.push(rest[i].clone()),
        }
        i += consumed;
    }
    if folded == 0 {
        return Err(format!(
            "{} needs --data imagefolder:<dir>, parquet:<path> or hf://datasets/<org>/<name>",
            options[0].0
        ));
    }
    Ok(out)
}

fn with_options(spec: &str, flags: &[(&str, &str, String)]) -> Result<String, String> {
    let mut source = spec.parse::<DataSource>().map_err(|e| e.to_string())?;
    let not_imported = format!(
        "{} applies to imagefolder:, parquet: and hf://datasets/ data, not to --data {spec}",
        flags[0].0
    );
    let (own, columns_allowed) = match &mut source {
        DataSource::ImageFolder { options, .. } => (options, false),
        DataSource::Parquet { options, .. } | DataSource::HubDataset { options, .. } => {
            (options, true)
        }
        _ => return Err(not_imported),
    };
    for (flag, key, value) in flags {
        // The source's own parser checks the value, with its own message.
        let given = ImportOptions::parse(&format!("{key}={value}"), spec, columns_allowed)
            .map_err(|e| e.to_string())?;
        let contradiction = |own: String| {
            format!("{flag} {value} contradicts `{key}={own}` in --data {spec}: give it once")
        };
        if let Some(size) = given.image_size {
            if let Some([h, w]) = own.image_size.filter(|o| *o != size) {
                return Err(contradiction(format!("{h},{w}")));
            }
            own.image_size = Some(size);
        }
        for (mine, theirs) in [
            (&mut own.image_column, given.image_column),
            (&mut own.label_column, given.label_column),
        ] {
            if let Some(column) = theirs {
                if let Some(o) = mine.as_ref().filter(|o| **o != column) {
                    return Err(contradiction(o.clone()));
                }
                *mine = Some(column);
            }
        }
    }
    Ok(source.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(args: &[&str]) -> Result<Vec<String>, String> {
        fold_import_flags(args.iter().map(OsString::from).collect()).map(|v| {
            v.into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        })
    }

    #[test]
    fn the_flags_become_options_of_the_data_source() {
        assert_eq!(
            fold(&[
                "unlearn",
                "data",
                "info",
                "--data",
                "parquet:/d",
                "--label-column",
                "fine_label",
                "--image-size=32,32"
            ])
            .unwrap(),
            [
                "unlearn",
                "data",
                "info",
                "--data",
                "parquet:/d?size=32,32&label=fine_label"
            ]
        );
        assert_eq!(
            fold(&[
                "unlearn",
                "split",
                "--data=imagefolder:/p?size=8,8",
                "--image-size",
                "8,8"
            ])
            .unwrap(),
            ["unlearn", "split", "--data", "imagefolder:/p?size=8,8"]
        );
        assert_eq!(
            fold(&["unlearn", "split", "--data", "embedded"])
                .unwrap()
                .len(),
            4
        );
    }

    #[test]
    fn misplaced_or_contradicting_flags_are_refused() {
        for (args, says) in [
            (
                &["unlearn", "split", "--image-size", "8,8"][..],
                "needs --data",
            ),
            (
                &[
                    "unlearn",
                    "split",
                    "--data",
                    "embedded",
                    "--image-size",
                    "8,8",
                ][..],
                "not to --data embedded",
            ),
            (
                &[
                    "unlearn",
                    "split",
                    "--data",
                    "imagefolder:/p?size=4,4",
                    "--image-size",
                    "8,8",
                ][..],
                "contradicts",
            ),
            (
                &[
                    "unlearn",
                    "split",
                    "--data",
                    "imagefolder:/p",
                    "--label-column",
                    "x",
                ][..],
                "takes no `label=`",
            ),
            (
                &[
                    "unlearn",
                    "split",
                    "--data",
                    "imagefolder:/p",
                    "--image-size",
                    "big",
                ][..],
                "expected H,W",
            ),
            (
                &[
                    "unlearn",
                    "split",
                    "--data",
                    "imagefolder:/p",
                    "--image-size",
                ][..],
                "needs a value",
            ),
        ] {
            let err = fold(args).unwrap_err();
            assert!(err.contains(says), "{args:?}: {err}");
        }
    }
}
