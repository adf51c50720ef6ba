#!/usr/bin/env bash
# Builds ios/build/DoorstepFFI.xcframework (macOS with Xcode only) and regenerates the Swift
# bindings, C header and module map:
#
#   slices: ios-arm64                 aarch64-apple-ios
#           ios-arm64_x86_64-simulator aarch64-apple-ios-sim + x86_64-apple-ios, lipo'd
#           macos-arm64_x86_64        aarch64-apple-darwin + x86_64-apple-darwin, lipo'd
#                                     (for `swift test` on a Mac)
#
# Each slice is a static library whose only global symbols are the uniffi entry points
# (`uniffi_doorstep_ffi_*`, `ffi_doorstep_ffi_*`): everything else, notably the SQLite that
# rusqlite bundles (sqlite3_*) and Rust's own runtime symbols, is made private by a single-object
# prelink (`ld -r -exported_symbols_list`, what Xcode's "Perform Single-Object Prelink" does).
# Without it, an app that also links the system libsqlite3 (directly, or through a pod) could
# bind Doorstep's SQLite calls to the system's library, or fail to link with duplicate symbols.
#
#   ios/build-xcframework.sh            release build, with HTTPS (feature `tls`)
#   PROFILE=dev ios/build-xcframework.sh  faster, unoptimized
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(uname -s)" = Darwin ] || { echo "build-xcframework.sh needs macOS and Xcode" >&2; exit 1; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/doorstep/target}"
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-15.0}"
export MACOSX_DEPLOYMENT_TARGET="${MACOSX_DEPLOYMENT_TARGET:-12.0}"
profile="${PROFILE:-release}"
profile_dir="$([ "$profile" = dev ] && echo debug || echo "$profile")"
targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "${targets[@]}"

# 1. The Swift sources, header and module map, from the host library (same as on Linux).
scripts/generate-bindings

# 2. One static library per target. `--crate-type staticlib` here keeps ordinary builds from
#    producing a large .a nobody uses.
for target in "${targets[@]}"; do
  cargo rustc -p doorstep-ffi --lib --crate-type staticlib --profile "$profile" --target "$target" --features tls
done

work="$CARGO_TARGET_DIR/xcframework"
rm -rf "$work" ios/build/DoorstepFFI.xcframework
mkdir -p "$work/headers"
cp ios/FFI/DoorstepFFI.h ios/FFI/module.modulemap "$work/headers/"
printf '_uniffi_doorstep_ffi_*\n_ffi_doorstep_ffi_*\n' > "$work/exported-symbols.txt"

# 3. Prelink: one object per target, every symbol but the uniffi entry points made private.
prelink() { # TARGET ARCH SDK
  local lib="$CARGO_TARGET_DIR/$1/$profile_dir/libdoorstep_ffi.a" out="$work/$1"
  mkdir -p "$out"
  xcrun --sdk "$3" ld -r -arch "$2" -force_load "$lib" \
    -exported_symbols_list "$work/exported-symbols.txt" -o "$out/doorstep_ffi.o"
  xcrun libtool -static -o "$out/libdoorstep_ffi.a" "$out/doorstep_ffi.o"
  # The check this step exists for: no SQLite symbol is left global.
  if xcrun nm -gU "$out/libdoorstep_ffi.a" | grep -q ' _sqlite3_'; then
    echo "prelink of $1 left sqlite3 symbols global" >&2
    exit 1
  fi
}
prelink aarch64-apple-ios arm64 iphoneos
prelink aarch64-apple-ios-sim arm64 iphonesimulator
prelink x86_64-apple-ios x86_64 iphonesimulator
prelink aarch64-apple-darwin arm64 macosx
prelink x86_64-apple-darwin x86_64 macosx

# 4. Fat libraries for the simulator and macOS, then the XCFramework.
mkdir -p "$work/ios-simulator" "$work/macos"
lipo -create "$work/aarch64-apple-ios-sim/libdoorstep_ffi.a" "$work/x86_64-apple-ios/libdoorstep_ffi.a" \
  -output "$work/ios-simulator/libdoorstep_ffi.a"
lipo -create "$work/aarch64-apple-darwin/libdoorstep_ffi.a" "$work/x86_64-apple-darwin/libdoorstep_ffi.a" \
  -output "$work/macos/libdoorstep_ffi.a"
xcodebuild -create-xcframework \
  -library "$work/aarch64-apple-ios/libdoorstep_ffi.a" -headers "$work/headers" \
  -library "$work/ios-simulator/libdoorstep_ffi.a" -headers "$work/headers" \
  -library "$work/macos/libdoorstep_ffi.a" -headers "$work/headers" \
  -output ios/build/DoorstepFFI.xcframework
echo "built ios/build/DoorstepFFI.xcframework"
