// swift-tools-version:5.9
// Doorstep's client core for iOS: the idiomatic Swift API and the uniffi-generated bindings
// (Sources/Doorstep) over the Rust library, shipped as a static XCFramework built by
// build-xcframework.sh (macOS only). See README.md.

import PackageDescription

let package = Package(
    name: "Doorstep",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Doorstep", targets: ["Doorstep"]),
    ],
    targets: [
        // libdoorstep_ffi.a for device, simulator and macOS, with the C header and the
        // `DoorstepFFI` module map. Not committed: build it with ./build-xcframework.sh.
        .binaryTarget(name: "DoorstepFFI", path: "build/DoorstepFFI.xcframework"),
        .target(
            name: "Doorstep",
            dependencies: ["DoorstepFFI"],
            path: "Sources/Doorstep"
        ),
        .testTarget(
            name: "DoorstepTests",
            dependencies: ["Doorstep"],
            path: "Tests/DoorstepTests"
        ),
    ]
)
