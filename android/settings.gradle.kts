// Lets android/ be opened (or built with a Gradle wrapper) on its own. In an app, include it as a
// module instead: settings.gradle.kts of the app: include(":doorstep"); project(":doorstep").projectDir = file("<clone>/android")
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "doorstep"
