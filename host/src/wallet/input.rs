//! Where the operator's password and key come from: the environment, a hidden prompt, or piped
//! standard input — never a command-line argument, never echoed.

use secrecy::{ExposeSecret as _, SecretString};
use std::io::{BufRead as _, IsTerminal as _};

/// The keystore password, for unattended starts.
pub const PASSWORD_VAR: &str = "EQUILIBRAGE_WALLET_PASSWORD";
/// Shortest password accepted for a new keystore.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Why a password or key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("the keystore password is needed: set {PASSWORD_VAR}, or run in a terminal to be asked for it")]
    NoPassword,
    #[error("the two passwords differ")]
    Mismatch,
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("nothing was entered")]
    Empty,
    #[error("reading the terminal: {0}")]
    Io(#[from] std::io::Error),
}

/// The password: from [`PASSWORD_VAR`], else asked at a hidden prompt (twice when `new`, to
/// catch a typo in a password that is about to lock a key).
///
/// # Errors
/// No environment variable and no terminal; the two entries differ; a new password is too short.
pub fn password(prompt: &str, new: bool) -> Result<SecretString, InputError> {
    password_from(std::env::var(PASSWORD_VAR).ok(), std::io::stdin().is_terminal(), prompt, new)
}

fn password_from(
    env: Option<String>,
    terminal: bool,
    prompt: &str,
    new: bool,
) -> Result<SecretString, InputError> {
    let entered = match env.filter(|p| !p.is_empty()) {
        Some(p) => SecretString::from(p),
        None if terminal => {
            let first = SecretString::from(rpassword::prompt_password(format!("{prompt}: "))?);
            if new {
                let again = SecretString::from(rpassword::prompt_password("Repeat it: ")?);
                if first.expose_secret() != again.expose_secret() {
                    return Err(InputError::Mismatch);
                }
            }
            first
        }
        None => return Err(InputError::NoPassword),
    };
    check_new_password(&entered, new)?;
    Ok(entered)
}

/// A password about to lock a key must not be trivially short.
///
/// # Errors
/// [`InputError::TooShort`] or [`InputError::Empty`].
pub fn check_new_password(password: &SecretString, new: bool) -> Result<(), InputError> {
    let chars = password.expose_secret().chars().count();
    if chars == 0 {
        Err(InputError::Empty)
    } else if new && chars < MIN_PASSWORD_CHARS {
        Err(InputError::TooShort)
    } else {
        Ok(())
    }
}

/// A secret typed at a hidden prompt, or the first line of piped standard input
/// (`… | equilibrage wallet import`), trimmed.
///
/// # Errors
/// Reading fails, or nothing was entered.
pub fn secret_line(prompt: &str) -> Result<SecretString, InputError> {
    let line = if std::io::stdin().is_terminal() {
        zeroize::Zeroizing::new(rpassword::prompt_password(format!("{prompt}: "))?)
    } else {
        let mut line = zeroize::Zeroizing::new(String::new());
        std::io::stdin().lock().read_line(&mut line)?;
        line
    };
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Err(InputError::Empty);
    }
    Ok(SecretString::from(trimmed.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_serves_unattended_starts_and_short_passwords_are_refused() {
        let p = password_from(Some("correct horse".into()), false, "Password", true).unwrap();
        assert_eq!(p.expose_secret(), "correct horse");
        assert!(matches!(password_from(None, false, "Password", false), Err(InputError::NoPassword)));
        assert!(matches!(password_from(Some(String::new()), false, "P", false), Err(InputError::NoPassword)));
        assert!(matches!(password_from(Some("short".into()), false, "P", true), Err(InputError::TooShort)));
        // An existing keystore may have any password its tool allowed.
        assert!(password_from(Some("short".into()), false, "P", false).is_ok());
        assert!(format!("{p:?}").contains("REDACTED"), "{p:?}");
    }
}
