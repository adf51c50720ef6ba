// Doorstep's Android library: the Kotlin API (src/main/kotlin), the uniffi bindings generated for
// Android (src/uniffi/kotlin, committed; scripts/generate-bindings), and libdoorstep_ffi.so for
// each ABI, built from bindings/ by cargo-ndk before every build. See README.md.
//
// Not built on CI (no Android SDK there): CI compiles and tests the same Kotlin on a plain JVM
// with Maven (jvm/pom.xml, scripts/test-kotlin).

import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.1.21"
}

android {
    namespace = "app.doorstep"
    compileSdk = 35

    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
        ndk {
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }

    sourceSets["main"].apply {
        // src/keystore/kotlin needs Android (the Keystore); the JVM tests compile only src/main/kotlin.
        java.srcDirs("src/main/kotlin", "src/keystore/kotlin", "src/uniffi/kotlin")
        jniLibs.srcDir(layout.buildDirectory.dir("rustJniLibs"))
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    // JNA as an AAR: it carries libjnidispatch.so for every Android ABI (the plain jar does not).
    implementation("net.java.dev.jna:jna:5.17.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
    // The generated bindings use @RequiresApi for Android 14's SystemCleaner.
    implementation("androidx.annotation:annotation:1.9.1")
}

// The Rust library for every ABI, with HTTPS (feature `tls`), into build/rustJniLibs/<abi>/.
// Needs: rustup targets aarch64-linux-android armv7-linux-androideabi x86_64-linux-android,
// `cargo install cargo-ndk`, and the NDK (ANDROID_NDK_HOME, or installed through the SDK manager).
val repoRoot = projectDir.parentFile
val rustProfile = providers.gradleProperty("doorstep.rustProfile").getOrElse("release")
val cargoNdk by tasks.registering(Exec::class) {
    group = "build"
    description = "Builds libdoorstep_ffi.so for each ABI with cargo-ndk."
    workingDir = repoRoot
    val out = layout.buildDirectory.dir("rustJniLibs").get().asFile
    commandLine(
        "cargo", "ndk",
        "-t", "arm64-v8a", "-t", "armeabi-v7a", "-t", "x86_64",
        "--platform", "24",
        "-o", out.path,
        "build", "--profile", rustProfile, "-p", "doorstep-ffi", "--features", "tls",
    )
    inputs.dir(repoRoot.resolve("bindings/src"))
    inputs.dir(repoRoot.resolve("replica/src"))
    inputs.dir(repoRoot.resolve("core/src"))
    inputs.file(repoRoot.resolve("Cargo.lock"))
    outputs.dir(out)
}
tasks.named("preBuild") { dependsOn(cargoNdk) }
