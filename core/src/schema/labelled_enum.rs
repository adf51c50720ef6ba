//! A macro for the schema's closed vocabularies: each value has a stable wire name (stored in
//! Automerge and sent over the wire), a Chinese label and an English label. Parsing accepts any
//! of the three, so spreadsheets in either language import.

/// A value outside a closed vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind}; expected one of: {expected}")]
pub struct UnknownValue {
    /// The vocabulary (e.g. "control status").
    pub kind: &'static str,
    /// The text that was given.
    pub value: String,
    /// The accepted values, for the error message.
    pub expected: String,
}

macro_rules! labelled_enum {
    ($(#[$doc:meta])* $name:ident, $kind:literal { $($(#[$vdoc:meta])* $variant:ident => ($wire:literal, $zh:literal, $en:literal)),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in display order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable wire name stored in documents.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            /// The Chinese label.
            pub fn label_zh(self) -> &'static str {
                match self { $($name::$variant => $zh),+ }
            }

            /// The English label.
            pub fn label_en(self) -> &'static str {
                match self { $($name::$variant => $en),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::schema::labelled_enum::UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let s = s.trim();
                $(
                    if s == $wire || s == $zh || s.eq_ignore_ascii_case($en) {
                        return Ok($name::$variant);
                    }
                )+
                Err($crate::schema::labelled_enum::UnknownValue {
                    kind: $kind,
                    value: s.chars().take(64).collect(),
                    expected: [$(concat!($wire, " (", $zh, ")")),+].join(", "),
                })
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::schema::labelled_enum::UnknownValue;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$name> for &'static str {
            fn from(v: $name) -> &'static str {
                v.as_str()
            }
        }
    };
}

pub(crate) use labelled_enum;
