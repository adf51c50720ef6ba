//! The uniffi binding generator, built from this workspace so that the generated Kotlin and Swift
//! always come from the same uniffi version as the library (`uniffi = "=0.32.2"`). Run it as
//! `cargo uniffi-bindgen generate --library <libdoorstep_ffi.so> --language kotlin ...` (the
//! alias is in `.cargo/config.toml`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
