/// The three upstream endpoints; faults can be limited to some of them.
public enum SimulatorEndpoint: String, Codable, Sendable, CaseIterable, Hashable {
    case generate = "video.generate"
    case get = "video.get"
    case list = "video.list"
}

/// Misbehaviour the simulator adds to the upstream endpoints (never to `/_sim/…`).
///
/// Every ratio is a probability from 0 to 1 (1 = every request), decided per request
/// (per video item for the status knobs) with the simulator's seeded generator.
/// Per request the knobs are evaluated in this order: `latency`, hang, 429, 5xx, HTML,
/// truncated, non-zero code; then, per video item of a `video.get`/`video.list` answer,
/// unknown status and backwards status. A request answered with a fault never creates a video.
///
/// JSON form (`GET/PUT /_sim/faults`): snake_case keys, durations in integer milliseconds
/// (`latency_ms`, `hang_ms`); absent keys take their defaults; unknown keys are rejected.
public struct FaultSettings: Codable, Sendable, Equatable {
    /// Delay added before answering every request (`latency_ms`).
    public var latency: Duration
    /// Share of requests that sleep ``hangTime`` before going on (`hang_ratio`).
    public var hangRatio: Double
    /// How long a hung request sleeps (`hang_ms`, default 60000).
    public var hangTime: Duration
    /// Share of requests answered `429` with code 42900 (`rate_limit_ratio`).
    public var rateLimitRatio: Double
    /// `Retry-After` of a 429, in seconds (`retry_after_seconds`, default 1).
    public var retryAfterSeconds: Int
    /// Send `Retry-After` as an IMF-fixdate that many seconds ahead (`retry_after_http_date`).
    public var retryAfterHTTPDate: Bool
    /// Send no `Retry-After` header at all (`omit_retry_after`).
    public var omitRetryAfter: Bool
    /// Share of requests answered with ``serverErrorStatus`` (`server_error_ratio`).
    public var serverErrorRatio: Double
    /// Status of a server error (`server_error_status`, default 500; 500…599).
    /// 500 carries a JSON envelope with code 50000; other statuses a plain-text body as a proxy would send.
    public var serverErrorStatus: Int
    /// Share of requests answered 200 with an HTML error page (`html_ratio`).
    public var htmlRatio: Double
    /// Share of requests whose JSON body is cut in half (`truncated_ratio`).
    public var truncatedRatio: Double
    /// Share of requests answered 200 with code 50001 (`nonzero_code_ratio`).
    public var nonzeroCodeRatio: Double
    /// Share of video items reported with ``unknownStatus`` (`unknown_status_ratio`).
    public var unknownStatusRatio: Double
    /// The status reported by ``unknownStatusRatio`` (`unknown_status`, default `queued_for_review`).
    public var unknownStatus: String
    /// Share of video items reported one status back (`backwards_ratio`):
    /// `in_progressing` → `pending`, `finished`/`error` → `in_progressing`.
    public var backwardsRatio: Double
    /// Endpoints the faults apply to (`endpoints`); `nil` = all three.
    public var endpoints: [SimulatorEndpoint]?

    public init(
        latency: Duration = .zero,
        hangRatio: Double = 0,
        hangTime: Duration = .seconds(60),
        rateLimitRatio: Double = 0,
        retryAfterSeconds: Int = 1,
        retryAfterHTTPDate: Bool = false,
        omitRetryAfter: Bool = false,
        serverErrorRatio: Double = 0,
        serverErrorStatus: Int = 500,
        htmlRatio: Double = 0,
        truncatedRatio: Double = 0,
        nonzeroCodeRatio: Double = 0,
        unknownStatusRatio: Double = 0,
        unknownStatus: String = "queued_for_review",
        backwardsRatio: Double = 0,
        endpoints: [SimulatorEndpoint]? = nil
    ) {
        self.latency = latency
        self.hangRatio = hangRatio
        self.hangTime = hangTime
        self.rateLimitRatio = rateLimitRatio
        self.retryAfterSeconds = retryAfterSeconds
        self.retryAfterHTTPDate = retryAfterHTTPDate
        self.omitRetryAfter = omitRetryAfter
        self.serverErrorRatio = serverErrorRatio
        self.serverErrorStatus = serverErrorStatus
        self.htmlRatio = htmlRatio
        self.truncatedRatio = truncatedRatio
        self.nonzeroCodeRatio = nonzeroCodeRatio
        self.unknownStatusRatio = unknownStatusRatio
        self.unknownStatus = unknownStatus
        self.backwardsRatio = backwardsRatio
        self.endpoints = endpoints
    }

    /// No faults at all.
    public static let none = FaultSettings()

    /// True when the faults apply to `endpoint`.
    public func applies(to endpoint: SimulatorEndpoint) -> Bool {
        endpoints?.contains(endpoint) ?? true
    }

    /// A description of the first invalid value, or `nil` when every value is in range.
    public var validationError: String? {
        let ratios: [(String, Double)] = [
            ("hang_ratio", hangRatio), ("rate_limit_ratio", rateLimitRatio),
            ("server_error_ratio", serverErrorRatio), ("html_ratio", htmlRatio),
            ("truncated_ratio", truncatedRatio), ("nonzero_code_ratio", nonzeroCodeRatio),
            ("unknown_status_ratio", unknownStatusRatio), ("backwards_ratio", backwardsRatio),
        ]
        for (name, value) in ratios where !(value >= 0 && value <= 1) {
            return "\(name) must be between 0 and 1"
        }
        if latency < .zero { return "latency_ms must not be negative" }
        if hangTime < .zero { return "hang_ms must not be negative" }
        if retryAfterSeconds < 0 { return "retry_after_seconds must not be negative" }
        if !(500...599).contains(serverErrorStatus) { return "server_error_status must be 500…599" }
        if unknownStatus.isEmpty { return "unknown_status must not be empty" }
        return nil
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case latencyMS = "latency_ms"
        case hangRatio = "hang_ratio"
        case hangMS = "hang_ms"
        case rateLimitRatio = "rate_limit_ratio"
        case retryAfterSeconds = "retry_after_seconds"
        case retryAfterHTTPDate = "retry_after_http_date"
        case omitRetryAfter = "omit_retry_after"
        case serverErrorRatio = "server_error_ratio"
        case serverErrorStatus = "server_error_status"
        case htmlRatio = "html_ratio"
        case truncatedRatio = "truncated_ratio"
        case nonzeroCodeRatio = "nonzero_code_ratio"
        case unknownStatusRatio = "unknown_status_ratio"
        case unknownStatus = "unknown_status"
        case backwardsRatio = "backwards_ratio"
        case endpoints
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let any = try decoder.container(keyedBy: AnyKey.self)
        for key in any.allKeys where CodingKeys(rawValue: key.stringValue) == nil {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: any, debugDescription: "unknown key \"\(key.stringValue)\"")
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = FaultSettings()
        func ratio(_ key: CodingKeys, _ fallback: Double) throws -> Double {
            guard let value = try c.decodeIfPresent(Double.self, forKey: key) else { return fallback }
            guard value >= 0, value <= 1 else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: c, debugDescription: "\(key.rawValue) must be between 0 and 1")
            }
            return value
        }
        func milliseconds(_ key: CodingKeys, _ fallback: Duration) throws -> Duration {
            guard let value = try c.decodeIfPresent(Int64.self, forKey: key) else { return fallback }
            guard value >= 0 else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: c, debugDescription: "\(key.rawValue) must not be negative")
            }
            return .milliseconds(value)
        }
        self.init(
            latency: try milliseconds(.latencyMS, defaults.latency),
            hangRatio: try ratio(.hangRatio, defaults.hangRatio),
            hangTime: try milliseconds(.hangMS, defaults.hangTime),
            rateLimitRatio: try ratio(.rateLimitRatio, defaults.rateLimitRatio),
            retryAfterSeconds: try c.decodeIfPresent(Int.self, forKey: .retryAfterSeconds) ?? defaults.retryAfterSeconds,
            retryAfterHTTPDate: try c.decodeIfPresent(Bool.self, forKey: .retryAfterHTTPDate) ?? defaults.retryAfterHTTPDate,
            omitRetryAfter: try c.decodeIfPresent(Bool.self, forKey: .omitRetryAfter) ?? defaults.omitRetryAfter,
            serverErrorRatio: try ratio(.serverErrorRatio, defaults.serverErrorRatio),
            serverErrorStatus: try c.decodeIfPresent(Int.self, forKey: .serverErrorStatus) ?? defaults.serverErrorStatus,
            htmlRatio: try ratio(.htmlRatio, defaults.htmlRatio),
            truncatedRatio: try ratio(.truncatedRatio, defaults.truncatedRatio),
            nonzeroCodeRatio: try ratio(.nonzeroCodeRatio, defaults.nonzeroCodeRatio),
            unknownStatusRatio: try ratio(.unknownStatusRatio, defaults.unknownStatusRatio),
            unknownStatus: try c.decodeIfPresent(String.self, forKey: .unknownStatus) ?? defaults.unknownStatus,
            backwardsRatio: try ratio(.backwardsRatio, defaults.backwardsRatio),
            endpoints: try c.decodeIfPresent([SimulatorEndpoint].self, forKey: .endpoints)
        )
        if let problem = validationError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: problem))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(latency.simulatorMilliseconds, forKey: .latencyMS)
        try c.encode(hangRatio, forKey: .hangRatio)
        try c.encode(hangTime.simulatorMilliseconds, forKey: .hangMS)
        try c.encode(rateLimitRatio, forKey: .rateLimitRatio)
        try c.encode(retryAfterSeconds, forKey: .retryAfterSeconds)
        try c.encode(retryAfterHTTPDate, forKey: .retryAfterHTTPDate)
        try c.encode(omitRetryAfter, forKey: .omitRetryAfter)
        try c.encode(serverErrorRatio, forKey: .serverErrorRatio)
        try c.encode(serverErrorStatus, forKey: .serverErrorStatus)
        try c.encode(htmlRatio, forKey: .htmlRatio)
        try c.encode(truncatedRatio, forKey: .truncatedRatio)
        try c.encode(nonzeroCodeRatio, forKey: .nonzeroCodeRatio)
        try c.encode(unknownStatusRatio, forKey: .unknownStatusRatio)
        try c.encode(unknownStatus, forKey: .unknownStatus)
        try c.encode(backwardsRatio, forKey: .backwardsRatio)
        if let endpoints {
            try c.encode(endpoints, forKey: .endpoints)
        } else {
            try c.encodeNil(forKey: .endpoints)
        }
    }
}
