// swift-tools-version: 6.2
// Talking Photo Bridge: push notifications for a poll-only video API.
// One module per concern; imports point one way (see README "Architecture").
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// The server binary is linked by the toolchain's own lld with packed relative relocations (DT_RELR):
/// the 55,000 pointer fix-ups of a position-independent executable take 15 KB instead of 1.3 MB, and the
/// loader no longer reads that table in at start. 2.5–3 MB less RSS at start and under a delivery burst
/// (BENCHMARKS.md). Needs glibc 2.36 or later where the binary runs (Debian 12, the image's base).
let compactRelocations: [LinkerSetting] = [
    .unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"], .when(platforms: [.linux]))
]

let package = Package(
    name: "talking-photo-bridge",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "talking-photo-bridge", targets: ["talking-photo-bridge"]),
        .library(name: "Simulator", targets: ["Simulator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-openapi-generator", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.13.4"),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // libcurl headers plus typed wrappers for its variadic C functions. Only CurlHTTP imports it.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // glibc's mallopt, which Swift's Glibc module does not import (<malloc.h>).
        .target(name: "CMallocTuning"),
        // Every outbound HTTP call of the product: one curl multi handle on its own thread.
        .target(
            name: "CurlHTTP",
            dependencies: [
                "CCurl",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Client for the upstream Talking Photo API, over any HTTPTransport.
        .target(
            name: "TalkingPhoto",
            dependencies: [
                "CurlHTTP",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The domain's pure rules: event types, status transitions, payload bytes, identifiers.
        .target(
            name: "BridgeCore",
            swiftSettings: strict
        ),
        // Engine-neutral storage: the protocols the poller, the dispatcher and the API depend on, the
        // records they exchange, and secret sealing. No SQL and no engine here.
        .target(
            name: "BridgeStore",
            dependencies: [
                "BridgeCore",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // The embedded engine: all state in one SQLite file (GRDB, WAL). The only module that sees GRDB.
        .target(
            name: "SQLiteStore",
            dependencies: [
                "BridgeCore", "BridgeStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                // The system SQLite's C API, for the one loop that reads 100,000 rows per poll cycle.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        // The engine for several replicas: the same store on PostgreSQL (postgres-nio). The only module
        // that sees PostgresNIO; it passes the same conformance suite as SQLiteStore.
        .target(
            name: "PostgresStore",
            dependencies: [
                "BridgeCore", "BridgeStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Standard Webhooks signing, secrets, retry schedule and destination rules. Imports no store.
        .target(
            name: "Webhooks",
            dependencies: [
                "CurlHTTP",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // The dispatcher: claims due deliveries from a DeliveryStore, signs, sends, records outcomes.
        .target(
            name: "Delivery",
            dependencies: [
                "BridgeCore", "BridgeStore", "CurlHTTP", "Webhooks",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Types and server stubs generated from openapi/bridge.yaml (spec-first); no hand-written code.
        .target(
            name: "BridgeAPI",
            dependencies: [
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
            ],
            // Generated code only: its unused-import warnings are the generator's, not ours to fix.
            // The spec itself is compiled in too, so the binary serves exactly it at /openapi.yaml.
            resources: [.embedInCode("openapi.yaml")],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny"), .unsafeFlags(["-suppress-warnings"])],
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),
        // The running service: poller (and, later, dispatcher and HTTP API) as lifecycle services.
        .target(
            name: "BridgeService",
            dependencies: [
                "BridgeCore", "BridgeStore", "SQLiteStore", "PostgresStore", "TalkingPhoto", "CurlHTTP", "Webhooks", "Delivery", "BridgeAPI",
                "CMallocTuning",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ],
            // The operator console, compiled into the binary: no files to ship beside it.
            resources: [
                .embedInCode("Console/index.html"), .embedInCode("Console/app.js"), .embedInCode("Console/api.js"),
                .embedInCode("Console/views.js"), .embedInCode("Console/console.css"),
            ],
            swiftSettings: strict
        ),
        // A stand-in for the upstream API with fault knobs. Imports no bridge module on purpose.
        .target(
            name: "Simulator",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "talking-photo-bridge",
            dependencies: [
                "BridgeService", "BridgeStore", "SQLiteStore", "Webhooks",
                "CurlHTTP",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                "TalkingPhoto",
                "Simulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict,
            linkerSettings: compactRelocations
        ),
        // Benchmarks are executables that print figures next to a baseline; never timed tests.
        .executableTarget(
            name: "transport-bench",
            dependencies: [
                "CurlHTTP",
                "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Benchmarks/TransportBenchmark",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "core-bench",
            dependencies: ["BridgeCore", "BridgeStore", "SQLiteStore", "BridgeService", "CurlHTTP", "TalkingPhoto", "Simulator"],
            path: "Benchmarks/CoreBenchmark",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "delivery-bench",
            dependencies: [
                "BridgeCore", "BridgeStore", "SQLiteStore", "CurlHTTP", "Webhooks", "Delivery", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/DeliveryBenchmark",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "api-bench",
            dependencies: [
                "BridgeService", "BridgeStore", "SQLiteStore", "CurlHTTP", "Simulator", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/APIBenchmark",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "system-bench",
            dependencies: [
                "BridgeCore", "BridgeStore", "SQLiteStore", "CurlHTTP", "Simulator", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/SystemBenchmark",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "e2e-bench",
            dependencies: ["BridgeCore", "BridgeStore", "SQLiteStore", "PostgresStore", "CurlHTTP", "TestSupport"],
            path: "Benchmarks/EndToEndBenchmark",
            swiftSettings: strict
        ),
        // Loopback servers and helpers shared by tests and benchmarks.
        .target(
            name: "TestSupport",
            dependencies: [
                "Simulator",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CurlHTTPTests",
            dependencies: [
                "CurlHTTP", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TalkingPhotoTests",
            dependencies: ["TalkingPhoto", "CurlHTTP", "Simulator", "TestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BridgeCoreTests",
            dependencies: ["BridgeCore"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BridgeStoreTests",
            dependencies: ["BridgeStore", "SQLiteStore", "PostgresStore", "BridgeCore", "TestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SQLiteStoreTests",
            dependencies: ["SQLiteStore", "BridgeStore", "BridgeCore", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "WebhooksTests",
            dependencies: ["Webhooks", "CurlHTTP", "TestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "DeliveryTests",
            dependencies: ["Delivery", "Webhooks", "BridgeStore", "SQLiteStore", "BridgeCore", "CurlHTTP", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BridgeServiceTests",
            dependencies: [
                "BridgeService", "BridgeStore", "SQLiteStore", "PostgresStore", "BridgeCore", "TalkingPhoto", "CurlHTTP", "Simulator", "TestSupport",
                "Webhooks", "Delivery",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SimulatorTests",
            dependencies: [
                "Simulator", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
