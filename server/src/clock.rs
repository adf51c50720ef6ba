//! The relay's clock and entropy. Core reads neither itself (it is sans-IO); the relay is where
//! the real ones come in, through [`env`] and [`now`].

use doorstep_core::{Env, Timestamp};

/// The wall-clock time now.
pub fn now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp::from_millis(millis)
}

/// 128 bits from the operating system's generator.
pub fn entropy() -> u128 {
    rand::random()
}

/// Runs `f` with an [`Env`] at the current time drawing on the OS generator.
pub fn with_env<T>(f: impl FnOnce(&mut Env<'_>) -> T) -> T {
    let mut source = entropy;
    let mut env = Env::new(now(), &mut source);
    f(&mut env)
}
