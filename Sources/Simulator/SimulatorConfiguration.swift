/// How a simulator listens, which token it accepts, how videos progress, and which faults it adds.
public struct SimulatorConfiguration: Sendable {
    /// Address to bind (default `127.0.0.1`).
    public var host: String
    /// Port to bind (default 8090; 0 = any free port).
    public var port: Int
    /// The Bearer token the upstream endpoints accept (default `sim-token`): the default account.
    public var token: String
    /// Tokens of further accounts, each with videos and call counts of its own (a call sees only its
    /// token's account). The control endpoints address the default account.
    public var otherAccounts: [String]
    /// Time from submit to `finished`/`error` (default 10 s; zero = finished at once).
    public var renderTime: Duration
    /// Time a video stays `pending` before `in_progressing` (default `nil` = a quarter of ``renderTime``).
    public var pendingTime: Duration?
    /// Probability that a submitted video ends in `error` instead of `finished` (default 0).
    public var errorRatio: Double
    /// Faults applied to the upstream endpoints from the start (default none).
    public var faults: FaultSettings
    /// Seed of the generators behind faults, error outcomes and ids (`nil` = random).
    public var seed: UInt64?

    public init(
        host: String = "127.0.0.1",
        port: Int = 8090,
        token: String = "sim-token",
        renderTime: Duration = .seconds(10),
        pendingTime: Duration? = nil,
        errorRatio: Double = 0,
        faults: FaultSettings = .none,
        seed: UInt64? = nil,
        otherAccounts: [String] = []
    ) {
        self.host = host
        self.port = port
        self.token = token
        self.renderTime = renderTime
        self.pendingTime = pendingTime
        self.errorRatio = errorRatio
        self.faults = faults
        self.seed = seed
        self.otherAccounts = otherAccounts
    }

    /// The pending phase actually used: ``pendingTime`` or a quarter of ``renderTime``.
    public var effectivePendingTime: Duration {
        pendingTime ?? renderTime / 4
    }
}

/// Calls that reached each upstream endpoint (faulted and unauthorized ones included).
public struct SimulatorCallCounts: Codable, Sendable, Equatable {
    public var generate: Int
    public var get: Int
    public var list: Int

    public init(generate: Int = 0, get: Int = 0, list: Int = 0) {
        self.generate = generate
        self.get = get
        self.list = list
    }

    /// All calls together.
    public var total: Int { generate + get + list }

    /// The count for one endpoint.
    public subscript(endpoint: SimulatorEndpoint) -> Int {
        get {
            switch endpoint {
            case .generate: generate
            case .get: self.get
            case .list: list
            }
        }
        set {
            switch endpoint {
            case .generate: generate = newValue
            case .get: self.get = newValue
            case .list: list = newValue
            }
        }
    }

    enum CodingKeys: String, CodingKey {
        case generate = "video.generate"
        case get = "video.get"
        case list = "video.list"
    }
}
