//! Closed sets of choices among the parameters, typed but written as the strings they were.
//!
//! A choice ([`Choice`]) is an enum with [`FromStr`](std::str::FromStr) and
//! [`Display`](std::fmt::Display) that (de)serialises as its text (`"tensor"`, `"auto"`,
//! `"12.5"`), so listings, run records, TOML files and `--set key=value` items see the same
//! strings as when the field was a `String`. A value outside the set fails at
//! deserialisation, i.e. in [`crate::set_param`], with the accepted values in the message.

use std::fmt;

/// A closed set of choices written as text.
pub trait Choice: std::str::FromStr<Err = ChoiceError> + fmt::Display {
    /// What is accepted, for error messages (`one of tensor, global`).
    const EXPECTED: &'static str;
}

/// A text that is none of a [`Choice`]'s values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is invalid: expected {expected}")]
pub struct ChoiceError {
    /// The text given.
    pub value: String,
    /// What is accepted ([`Choice::EXPECTED`]).
    pub expected: &'static str,
}

impl ChoiceError {
    /// `value` is not one of `C`'s choices.
    pub fn new<C: Choice>(value: &str) -> Self {
        Self {
            value: value.to_string(),
            expected: C::EXPECTED,
        }
    }
}

struct Expected(&'static str);

impl serde::de::Expected for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Serialises a choice as its [`Display`](fmt::Display) text.
pub(crate) fn serialize<C: Choice, S: serde::Serializer>(
    value: &C,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Deserialises a choice from its text; anything else is an `invalid value` error naming
/// [`Choice::EXPECTED`].
pub(crate) fn deserialize<'de, C: Choice, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<C, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(deserializer)?;
    text.parse().map_err(|_| {
        serde::de::Error::invalid_value(serde::de::Unexpected::Str(&text), &Expected(C::EXPECTED))
    })
}

/// `Serialize` and `Deserialize` of a [`Choice`] as its text.
macro_rules! choice_serde {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                $crate::choice::serialize(self, s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(
                d: D,
            ) -> ::std::result::Result<Self, D::Error> {
                $crate::choice::deserialize(d)
            }
        }
    };
}
pub(crate) use choice_serde;

/// Defines a closed set of choices written as text: the enum, [`Choice`], `FromStr`,
/// `Display` and the serde forms, from `Variant => "text"` pairs (the first is listed
/// first in the error's "expected one of …").
macro_rules! text_choice {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $crate::choice::Choice for $name {
            const EXPECTED: &'static str = concat!("one of ", $crate::choice::text_choice!(@join $($text),+));
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::choice::ChoiceError;

            fn from_str(s: &str) -> ::std::result::Result<Self, $crate::choice::ChoiceError> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err($crate::choice::ChoiceError::new::<Self>(other)),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(match self {
                    $(Self::$variant => $text),+
                })
            }
        }

        $crate::choice::choice_serde!($name);
    };
    (@join $first:literal $(, $rest:literal)*) => {
        concat!($first $(, ", ", $rest)*)
    };
}
pub(crate) use text_choice;

/// What [`crate::set_param`] reports as expected when a value does not deserialise: for a
/// choice's `invalid value: string "x", expected …` just the `…`, otherwise the whole message.
pub(crate) fn expected_of(message: &str) -> &str {
    match message.rsplit_once(", expected ") {
        Some((head, expected)) if head.starts_with("invalid value: ") => expected,
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Side {
        Left,
        Right,
    }

    impl Choice for Side {
        const EXPECTED: &'static str = "one of left, right";
    }

    impl std::str::FromStr for Side {
        type Err = ChoiceError;

        fn from_str(s: &str) -> Result<Self, ChoiceError> {
            match s {
                "left" => Ok(Self::Left),
                "right" => Ok(Self::Right),
                _ => Err(ChoiceError::new::<Self>(s)),
            }
        }
    }

    impl fmt::Display for Side {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(match self {
                Self::Left => "left",
                Self::Right => "right",
            })
        }
    }

    choice_serde!(Side);

    #[test]
    fn a_choice_is_written_and_read_as_its_text() {
        assert_eq!(
            serde_json::to_string(&Side::Left).ok(),
            Some("\"left\"".into())
        );
        let back: Side = serde_json::from_str("\"right\"").expect("parses");
        assert_eq!(back, Side::Right);
        let err = serde_json::from_value::<Side>(serde_json::json!("up"))
            .expect_err("not a side")
            .to_string();
        assert_eq!(
            err,
            "invalid value: string \"up\", expected one of left, right"
        );
        assert_eq!(expected_of(&err), "one of left, right");
        assert!(serde_json::from_value::<Side>(serde_json::json!(1)).is_err());
        assert_eq!(
            "up".parse::<Side>().expect_err("not a side").to_string(),
            "'up' is invalid: expected one of left, right"
        );
    }

    #[test]
    fn other_messages_pass_through() {
        assert_eq!(expected_of("missing field `lr`"), "missing field `lr`");
    }
}
