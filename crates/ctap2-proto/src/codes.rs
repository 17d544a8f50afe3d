//! The open byte newtypes of CTAP2 messages, made to behave like `ctap-types`' codes:
//! a set of flags ([`Flags`](crate::Flags), [`Permissions`](crate::Permissions)) has
//! `|`, `&`, `contains`, `name()` of a single flag, and `Display`/`Debug` as
//! `UP | UV | 0x20`; a subcommand ([`PinSubCommand`](crate::PinSubCommand),
//! [`CredMgmtSubCommand`](crate::CredMgmtSubCommand),
//! [`ConfigSubCommand`](crate::ConfigSubCommand)) has `name()` (the spec's name) and
//! `Display`/`Debug` as that name or `UNKNOWN(0x2A)`. Unknown values survive.

/// Declares a set-of-flags newtype over `u8` with named constants (each with its doc,
/// a spec section among them) and the behaviour of `ctap_types::Capabilities`.
macro_rules! flag_set {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$cmeta:meta])* $constant:ident = $value:literal, $text:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub u8);

        impl $name {
            $( $(#[$cmeta])* pub const $constant: Self = Self($value); )*
            /// No flag set.
            pub const NONE: Self = Self(0);
            const NAMED: &'static [(Self, &'static str)] = &[$((Self::$constant, $text)),*];

            /// Whether every bit of `other` is set.
            #[must_use]
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }

            /// `self` with the bits of `other` set too (`self | other` in a `const`).
            #[must_use]
            pub const fn with(self, other: Self) -> Self {
                Self(self.0 | other.0)
            }

            /// The spec's name of a single known flag (`None` for several, none or an
            /// unknown bit).
            #[must_use]
            pub fn name(self) -> Option<&'static str> {
                Self::NAMED
                    .iter()
                    .find(|(flag, _)| *flag == self)
                    .map(|(_, name)| *name)
            }

            /// The bits this crate has no name for.
            #[must_use]
            pub fn unknown_bits(self) -> u8 {
                Self::NAMED.iter().fold(self.0, |bits, (flag, _)| bits & !flag.0)
            }
        }

        impl core::ops::BitOr for $name {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                Self(self.0 | rhs.0)
            }
        }

        impl core::ops::BitOrAssign for $name {
            fn bitor_assign(&mut self, rhs: Self) {
                self.0 |= rhs.0;
            }
        }

        impl core::ops::BitAnd for $name {
            type Output = Self;
            fn bitand(self, rhs: Self) -> Self {
                Self(self.0 & rhs.0)
            }
        }

        impl From<u8> for $name {
            fn from(bits: u8) -> Self {
                Self(bits)
            }
        }

        impl From<$name> for u8 {
            fn from(flags: $name) -> u8 {
                flags.0
            }
        }

        /// The names of the flags set, `|`-separated (`NONE` for none); unknown bits
        /// as hex.
        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                if self.0 == 0 {
                    return f.write_str("NONE");
                }
                let mut first = true;
                for (flag, name) in Self::NAMED {
                    if self.contains(*flag) {
                        if !first {
                            f.write_str(" | ")?;
                        }
                        f.write_str(name)?;
                        first = false;
                    }
                }
                if self.unknown_bits() != 0 {
                    if !first {
                        f.write_str(" | ")?;
                    }
                    write!(f, "0x{:02X}", self.unknown_bits())?;
                }
                Ok(())
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }
    };
}

/// Declares a code newtype over `u8` (a subcommand) with named constants (each with
/// its doc, a spec section among them), `name()`, and `Display`/`Debug` as the spec's
/// name or `UNKNOWN(0xNN)`.
macro_rules! sub_command {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$cmeta:meta])* $constant:ident = $value:literal, $text:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u8);

        impl $name {
            $( $(#[$cmeta])* pub const $constant: Self = Self($value); )*

            /// The spec's name of a known subcommand.
            #[must_use]
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some($text), )*
                    _ => None,
                }
            }

            /// The byte on the wire.
            #[must_use]
            pub const fn to_u8(self) -> u8 {
                self.0
            }
        }

        impl From<u8> for $name {
            fn from(value: u8) -> Self {
                Self(value)
            }
        }

        impl From<$name> for u8 {
            fn from(code: $name) -> u8 {
                code.0
            }
        }

        /// The spec's name, or `UNKNOWN(0xNN)`.
        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "UNKNOWN(0x{:02X})", self.0),
                }
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }
    };
}

pub(crate) use {flag_set, sub_command};

#[cfg(test)]
mod tests {
    extern crate std;
    use std::format;
    use std::string::ToString;

    use crate::{ConfigSubCommand, CredMgmtSubCommand, Flags, Permissions, PinSubCommand};

    #[test]
    fn flags_and_permissions_behave_like_the_wire_codes() {
        let both = Flags::UP | Flags::UV;
        assert!(both.contains(Flags::UP) && both.contains(Flags::UV));
        assert!(!both.contains(Flags::AT));
        assert_eq!(both & Flags::UV, Flags::UV);
        assert_eq!(both.to_string(), "UP | UV");
        assert_eq!(format!("{both:?}"), "Flags(UP | UV)");
        assert_eq!(Flags::UV.name(), Some("UV"));
        assert_eq!(both.name(), None);
        assert_eq!(Flags(0x22).to_string(), "0x22");
        assert_eq!(Flags(0x41 | 0x20).to_string(), "UP | AT | 0x20");
        assert_eq!(Flags(0x41 | 0x20).unknown_bits(), 0x20);
        assert_eq!(Flags::NONE.to_string(), "NONE");
        let mut granted = Permissions::MAKE_CREDENTIAL;
        granted |= Permissions::GET_ASSERTION;
        assert_eq!(granted.to_string(), "mc | ga");
        assert_eq!(u8::from(granted), 0x03);
        assert_eq!(Permissions::from(0x80).to_string(), "0x80");
        assert_eq!(Permissions::AUTHENTICATOR_CONFIG.name(), Some("acfg"));
    }

    #[test]
    fn sub_commands_have_the_spec_names_and_unknown_ones_survive() {
        assert_eq!(PinSubCommand::SET_PIN.to_string(), "setPIN");
        assert_eq!(PinSubCommand::from(0x08).to_string(), "UNKNOWN(0x08)");
        assert_eq!(PinSubCommand::from(0x08).to_u8(), 0x08);
        assert_eq!(
            format!("{:?}", CredMgmtSubCommand::ENUMERATE_RPS_BEGIN),
            "CredMgmtSubCommand(enumerateRPsBegin)"
        );
        assert_eq!(
            ConfigSubCommand::VENDOR_PROTOTYPE.name(),
            Some("vendorPrototype")
        );
        assert_eq!(ConfigSubCommand(0x2A).name(), None);
    }
}
